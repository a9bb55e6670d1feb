#!/usr/bin/env python3
"""Caller identification (wamp-spec §5.5): INVOCATION.Details caller, caller_authid and
caller_authrole, seen by an Autobahn callee as CallDetails (RegisterOptions(details_arg=...)).

Autobahn 26.10.2 has no option for either request: CallOptions lost ``disclose_me`` and
RegisterOptions never had ``disclose_caller``. The scenario therefore adds
``disclose_me: true`` to the CALL's Options and ``disclose_caller: true`` to the REGISTER's
Options of otherwise unchanged Autobahn messages (_harness.inject_options).

    python rpc_caller_disclosure.py disclose_me|disclose_caller|not_disclosed --url ws://127.0.0.1:8080/ws
"""

import _harness as h
from _harness import expect_eq, step

CASES = ("disclose_me", "disclose_caller", "not_disclosed")


def options(parser):
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


def who(details):
    return {"caller": details.caller, "caller_authid": details.caller_authid, "caller_authrole": details.caller_authrole}


async def main(args):
    from autobahn.wamp import message
    from autobahn.wamp.types import RegisterOptions

    proc = h.unique("com.interop.whoami")
    callee = await h.join(args.url, args.realm, args.serializer, "callee")
    caller = await h.join(args.url, args.realm, args.serializer, "caller")
    if args.case == "disclose_caller":
        h.inject_options(callee, message.Register, disclose_caller=True)
    await callee.register(lambda details=None: who(details), proc, options=RegisterOptions(details_arg="details"))
    step(f"callee registered {proc}" + (" with disclose_caller" if args.case == "disclose_caller" else ""))

    disclosed = {"caller": caller._session_id, "caller_authid": caller._authid, "caller_authrole": caller._authrole}
    hidden = {"caller": None, "caller_authid": None, "caller_authrole": None}
    expect_eq(caller._authrole, "anonymous", "caller's authrole in WELCOME")

    if args.case == "disclose_me":
        h.inject_options(caller, message.Call, disclose_me=True)
        expect_eq(await caller.call(proc), disclosed, "CallDetails for a CALL with disclose_me")
        # the next call does not ask: nothing disclosed
        expect_eq(await caller.call(proc), hidden, "CallDetails for the next CALL without disclose_me")
    elif args.case == "disclose_caller":
        expect_eq(await caller.call(proc), disclosed, "CallDetails for a plain CALL to a disclose_caller registration")
    else:
        expect_eq(await caller.call(proc), hidden, "CallDetails for a plain CALL")
    step(f"{args.case} ok")
    await h.leave(caller, callee)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
