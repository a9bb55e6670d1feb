#!/usr/bin/env python3
"""Subscriber black- and whitelisting (wamp-spec §5.12) with Autobahn|Python sessions:
PublishOptions exclude/eligible by session id, authid and authrole.

Anonymous sessions get authrole "anonymous" and an authid of their own (checked here
from their WELCOMEs). Three subscribers S1, S2, S3; each publication is acknowledged; a
final "fence" publication to everybody proves what was not delivered (events from one
publisher arrive in publication order).

    python pubsub_blackwhite.py session|authid|authrole --url ws://127.0.0.1:8080/ws
"""

import _harness as h
from _harness import expect, expect_eq, step


def options(parser):
    parser.add_argument("case", choices=("session", "authid", "authrole"))
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


def publications(case, s):
    """(label, PublishOptions kwargs, receivers) for sessions s = {"S1": session, ...}."""
    sid = {k: v._session_id for k, v in s.items()}
    aid = {k: v._authid for k, v in s.items()}
    if case == "session":
        return [
            ("exclude S1", {"exclude": [sid["S1"]]}, {"S2", "S3"}),
            ("eligible S1 S2", {"eligible": [sid["S1"], sid["S2"]]}, {"S1", "S2"}),
            ("eligible S1 S2, exclude S2", {"eligible": [sid["S1"], sid["S2"]], "exclude": [sid["S2"]]}, {"S1"}),
            ("exclude S1 S2 S3", {"exclude": list(sid.values())}, set()),
        ]
    if case == "authid":
        return [
            ("exclude_authid S2", {"exclude_authid": [aid["S2"]]}, {"S1", "S3"}),
            ("eligible_authid S3", {"eligible_authid": [aid["S3"]]}, {"S3"}),
            ("eligible_authid S1 S2, exclude S1", {"eligible_authid": [aid["S1"], aid["S2"]], "exclude": [sid["S1"]]}, {"S2"}),
            ("eligible_authid S1, exclude_authid S1", {"eligible_authid": [aid["S1"]], "exclude_authid": [aid["S1"]]}, set()),
            ("eligible_authid S1 S3, eligible S2 S3", {"eligible_authid": [aid["S1"], aid["S3"]], "eligible": [sid["S2"], sid["S3"]]}, {"S3"}),
        ]
    return [
        ("exclude_authrole anonymous", {"exclude_authrole": ["anonymous"]}, set()),
        ("eligible_authrole anonymous", {"eligible_authrole": ["anonymous"]}, {"S1", "S2", "S3"}),
        ("eligible_authrole other", {"eligible_authrole": ["com.interop.other"]}, set()),
        ("exclude_authrole other", {"exclude_authrole": ["com.interop.other"]}, {"S1", "S2", "S3"}),
        ("eligible_authrole anonymous, exclude S2", {"eligible_authrole": ["anonymous"], "exclude": [sid["S2"]]}, {"S1", "S3"}),
    ]


async def main(args):
    from autobahn.wamp.types import PublishOptions

    topic = h.unique("com.interop.bwlist")
    publisher = await h.join(args.url, args.realm, args.serializer, "publisher")
    subs = {name: await h.join(args.url, args.realm, args.serializer, name) for name in ("S1", "S2", "S3")}
    for name, s in subs.items():
        expect_eq(s._authrole, "anonymous", f"{name}: authrole of an anonymous session")
        expect(isinstance(s._authid, str) and s._authid != "", f"{name}: authid {s._authid!r}")
    authids = [s._authid for s in subs.values()] + [publisher._authid]
    expect_eq(len(set(authids)), 4, f"authids of 4 anonymous sessions are distinct ({authids})")
    events = {name: await h.subscribe(s, topic, name) for name, s in subs.items()}

    plan = publications(args.case, subs) + [("fence", {}, {"S1", "S2", "S3"})]
    ids = {}
    for label, opts, _ in plan:
        ids[label] = (await publisher.publish(topic, label, options=PublishOptions(acknowledge=True, **opts))).id
    for name in subs:
        expected = [label for label, _, receivers in plan if name in receivers]
        got = []
        while not got or got[-1] != "fence":
            ev_args, _, details = await events[name].next()
            expect_eq(details.publication, ids[ev_args[0]], f"{name}: publication id of {ev_args[0]!r}")
            got.append(ev_args[0])
        expect_eq(got, expected, f"{name}: events received (up to the fence)")
        step(f"{name} got {got}")
    await h.leave(publisher, *subs.values())


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
