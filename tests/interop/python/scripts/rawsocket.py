#!/usr/bin/env python3
"""WAMP over RawSocket (rs:// URL) with Autobahn|Python, msgpack by default.

Two RawSocket sessions do RPC (args + kwargs + an application error) and PubSub with each
other, then RawSocket and WebSocket sessions talk across transports both ways.

    python rawsocket.py --rs-url rs://127.0.0.1:8081 --url ws://127.0.0.1:8080/ws \
        --realm realm1 [--serializer msgpack]
"""

import asyncio

import _harness as h
from _harness import expect_eq, step


def options(parser):
    parser.add_argument("--serializer", default="msgpack", choices=h.SERIALIZERS,
                        help="serializer of the RawSocket sessions")


async def main(args):
    from autobahn.wamp.exception import ApplicationError
    from autobahn.wamp.types import CallResult, PublishOptions

    ser = args.serializer
    proc = h.unique("com.interop.rs.proc")
    topic = h.unique("com.interop.rs.topic")

    rs_callee = await h.join(args.rs_url, args.realm, ser, "rawsocket callee")
    rs_caller = await h.join(args.rs_url, args.realm, ser, "rawsocket caller")

    def proc_impl(*a, **kw):
        if kw.get("fail"):
            raise ApplicationError("com.example.error.custom", 1, 2, foo="bar")
        return CallResult(*a, sum=sum(x for x in a if isinstance(x, int)), **kw)

    await rs_callee.register(proc_impl, proc)
    res = await rs_caller.call(proc, 1, 2, b"\x00\xff", key="value")
    expect_eq((list(res.results), res.kwresults), ([1, 2, b"\x00\xff"], {"sum": 3, "key": "value"}),
              "RESULT over RawSocket")
    try:
        await rs_caller.call(proc, fail=True)
    except ApplicationError as e:
        expect_eq((e.error, list(e.args), e.kwargs), ("com.example.error.custom", [1, 2], {"foo": "bar"}),
                  "ERROR over RawSocket")
    else:
        raise h.Failure("call with fail=True did not fail")
    step("RPC rawsocket <-> rawsocket ok")

    # WebSocket (JSON) caller -> RawSocket callee
    ws = await h.join(args.url, args.realm, "json", "websocket/json peer")
    res = await ws.call(proc, 40, 2, b"\x01")
    expect_eq((list(res.results), res.kwresults), ([40, 2, b"\x01"], {"sum": 42}), "RESULT websocket -> rawsocket")
    step("RPC websocket -> rawsocket ok")

    # PubSub: RawSocket subscriber gets events from a RawSocket and a WebSocket publisher,
    # a WebSocket subscriber gets events from the RawSocket publisher.
    rs_events, ws_events = asyncio.Queue(), asyncio.Queue()
    await rs_callee.subscribe(lambda *a, **kw: rs_events.put_nowait((list(a), kw)), topic)
    await ws.subscribe(lambda *a, **kw: ws_events.put_nowait((list(a), kw)), topic)

    async def get(queue, who):
        try:
            return await asyncio.wait_for(queue.get(), 5)
        except asyncio.TimeoutError:
            raise h.Failure(f"{who}: no EVENT within 5s") from None

    await rs_caller.publish(topic, "from rs", b"\x00", n=1, options=PublishOptions(acknowledge=True))
    expect_eq(await get(rs_events, "rawsocket subscriber"), (["from rs", b"\x00"], {"n": 1}), "EVENT rs -> rs")
    expect_eq(await get(ws_events, "websocket subscriber"), (["from rs", b"\x00"], {"n": 1}), "EVENT rs -> ws")
    await ws.publish(topic, "from ws", b"\xff", n=2, options=PublishOptions(acknowledge=True))
    expect_eq(await get(rs_events, "rawsocket subscriber"), (["from ws", b"\xff"], {"n": 2}), "EVENT ws -> rs")
    step("PubSub across rawsocket and websocket ok")

    await h.leave(rs_caller, rs_callee, ws)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
