#!/usr/bin/env python3
"""Session testaments (wamp-spec §6.4): wamp.session.add_testament and
wamp.session.flush_testaments called by an Autobahn|Python session, published when it leaves.

    python session_testament.py on_leave|connection_lost|flush|flush_result --url ws://127.0.0.1:8080/ws

on_leave: testaments of scope "detached" are published before those of scope "destroyed"
          (the default), each bucket in the order added, with their args and kwargs and
          their publish_options (an eligible list); add_testament returns nothing.
connection_lost: the same when the testator's connection drops without GOODBYE.
flush:    flush_testaments() empties the "destroyed" bucket, flush_testaments(scope=
          "detached") the "detached" one; testaments added afterwards still count.
flush_result: flush_testaments returns nothing (spec: "Returns nothing").
In on_leave/connection_lost/flush, the testament published last (destroyed bucket, added last) is the fence
after which nothing more may arrive.
"""

import _harness as h
from _harness import expect_eq, step


def options(parser):
    parser.add_argument("case", choices=("on_leave", "connection_lost", "flush", "flush_result"))
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


async def received(events, last):
    got = []
    while not got or got[-1][0] != [last]:
        ev_args, ev_kwargs, _ = await events.next()
        got.append((ev_args, ev_kwargs))
    events.expect_none(f"after the testament {last!r}")
    return got


async def flush_result(args):
    session = await h.join(args.url, args.realm, args.serializer, "testator")
    topic = h.unique("com.interop.testament")
    expect_eq(await session.call("wamp.session.add_testament", topic, ["x"], {}), None, "result of add_testament")
    expect_eq(await session.call("wamp.session.flush_testaments"), None, "result of flush_testaments()")
    expect_eq(await session.call("wamp.session.flush_testaments", scope="detached"), None,
              "result of flush_testaments(scope='detached')")
    await h.leave(session)


async def main(args):
    if args.case == "flush_result":
        return await flush_result(args)
    topic = h.unique("com.interop.testament")
    s1 = await h.join(args.url, args.realm, args.serializer, "subscriber S1")
    s2 = await h.join(args.url, args.realm, args.serializer, "subscriber S2")
    ev1 = await h.subscribe(s1, topic, "S1")
    ev2 = await h.subscribe(s2, topic, "S2")
    leaver = await h.join(args.url, args.realm, args.serializer, "testator")

    async def add(label, scope=None, **kw):
        kwargs = {"scope": scope} if scope else {}
        kwargs.update(kw)
        res = await leaver.call("wamp.session.add_testament", topic, [label], {"label": label}, **kwargs)
        expect_eq(res, None, f"result of add_testament({label!r})")

    if args.case in ("on_leave", "connection_lost"):
        await add("destroyed 1")
        await add("detached 1", scope="detached")
        await add("destroyed 2 (S2 only)", scope="destroyed", publish_options={"eligible": [s2._session_id]})
        await add("detached 2", scope="detached")
        await add("destroyed 3")
        expected_s1 = ["detached 1", "detached 2", "destroyed 1", "destroyed 3"]
        expected_s2 = ["detached 1", "detached 2", "destroyed 1", "destroyed 2 (S2 only)", "destroyed 3"]
    else:
        await add("destroyed 1")
        await add("detached 1", scope="detached")
        await add("destroyed 2")
        await leaver.call("wamp.session.flush_testaments")
        step("flushed scope destroyed")
        await add("destroyed 3")
        await leaver.call("wamp.session.flush_testaments", scope="detached")
        step("flushed scope detached")
        await add("detached 2", scope="detached")
        expected_s1 = expected_s2 = ["detached 2", "destroyed 3"]
    if args.case == "connection_lost":
        step("testaments added; the testator's connection drops")
        leaver._transport.transport.abort()
    else:
        step("testaments added; testator leaves")
        await h.leave(leaver)

    for events, expected in ((ev1, expected_s1), (ev2, expected_s2)):
        got = await received(events, expected[-1])
        expect_eq(got, [([label], {"label": label}) for label in expected], f"{events.who}: testament events (args, kwargs)")
        step(f"{events.who} got {expected}")
    await h.leave(s1, s2)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
