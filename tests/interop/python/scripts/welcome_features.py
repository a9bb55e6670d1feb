#!/usr/bin/env python3
"""WELCOME announces exactly the Advanced Profile features the router implements.

Checks the raw WELCOME.Details.roles (as received, before Autobahn's parsing drops flags
it does not know, e.g. progressive_call_invocations) and what Autobahn exposes as
``session._router_roles``: broker and dealer, each with exactly the expected feature
flags, every flag ``true``; no other router role.

    python welcome_features.py --url ws://127.0.0.1:8080/ws [--serializer json]
"""

import _harness as h
from _harness import expect_eq, step

BROKER = {
    "publisher_exclusion", "publisher_identification", "subscriber_blackwhite_listing",
    "pattern_based_subscription", "subscription_revocation", "event_retention", "event_history",
    "subscription_meta_api", "session_meta_api", "payload_passthru_mode",
}
DEALER = {
    "progressive_call_results", "progressive_call_invocations", "call_timeout", "call_canceling",
    "caller_identification", "pattern_based_registration", "shared_registration",
    "registration_revocation", "registration_meta_api", "session_meta_api", "testament_meta_api",
    "payload_passthru_mode",
}


def options(parser):
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


async def main(args):
    from autobahn.wamp import message

    welcomes = []
    parse = message.Welcome.parse

    def capture(wmsg):
        welcomes.append(wmsg)
        return parse(wmsg)

    message.Welcome.parse = staticmethod(capture)
    session = await h.join(args.url, args.realm, args.serializer, "session")
    expect_eq(len(welcomes), 1, "WELCOME messages received")
    details = welcomes[0][2]
    roles = details.get("roles")
    h.expect(isinstance(roles, dict), f"WELCOME.Details.roles is not a dict: {roles!r}")
    expect_eq(sorted(roles), ["broker", "dealer"], "router roles in WELCOME")
    expect_eq(roles["broker"].get("features"), {f: True for f in sorted(BROKER)}, "WELCOME broker features")
    expect_eq(roles["dealer"].get("features"), {f: True for f in sorted(DEALER)}, "WELCOME dealer features")
    step("raw WELCOME roles ok")

    # what Autobahn made of it: every flag Autobahn knows must read True, the others None
    router_roles = session._router_roles
    expect_eq(sorted(router_roles), ["broker", "dealer"], "session._router_roles")
    for role, expected in (("broker", BROKER), ("dealer", DEALER)):
        features = router_roles[role]
        known = {k for k in vars(features) if not k.startswith("_") and k != "ROLE"}
        for flag in sorted(known):
            expect_eq(getattr(features, flag), True if flag in expected else None,
                      f"session._router_roles[{role!r}].{flag}")
    step("session._router_roles ok")
    await h.leave(session)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
