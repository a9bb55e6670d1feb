#!/usr/bin/env python3
"""One publisher, subscribers on the other serializers: everyone gets the same payload.

A JSON publisher's event reaches msgpack and CBOR subscribers (and a JSON one) with
identical args and kwargs, including binary values: on the JSON wire bytes travel as a
string "\\u0000" + base64 (WAMP spec, binary conversion of JSON strings), on msgpack/CBOR
as native binary, so the router must convert in both directions. Then the same with a
msgpack and a CBOR publisher.

    python pubsub_serializer_bridge.py --url ws://127.0.0.1:8080/ws --realm realm1 \
        [--publisher json] [--publisher msgpack] ...
"""

import asyncio

import _harness as h
from _harness import expect_eq, step

ARGS = [
    42, -1, 3.25, "ünïcödé ✓", True, False, None,
    [1, [2, [3]]], {"k": "v"},
    b"\x00\x01\x02\xfe\xff",
    "AP8=",  # a string that happens to be valid base64 must stay a string
]
KWARGS = {
    "blob": bytes(range(256)),
    "empty_bytes": b"",
    "text": "plain",
    "big": 2**53 - 1,
    "nested": {"bytes": b"\x00zero-led", "list": [b"\xff", "s"]},
}


def options(parser):
    parser.add_argument("--publisher", action="append", choices=h.SERIALIZERS,
                        help="serializer(s) of the publisher (default: json, msgpack, cbor in turn)")


async def main(args):
    from autobahn.wamp.types import PublishOptions

    topic = h.unique("com.interop.bridge")
    received = {s: asyncio.Queue() for s in h.SERIALIZERS}
    subscribers = {}
    for ser in h.SERIALIZERS:
        session = await h.join(args.url, args.realm, ser, f"{ser} subscriber")

        def on_event(*a, _q=received[ser], **kw):
            _q.put_nowait((list(a), kw))

        await session.subscribe(on_event, topic)
        subscribers[ser] = session
    step(f"json, msgpack and cbor subscribers on {topic}")

    for pub_ser in args.publisher or h.SERIALIZERS:
        publisher = await h.join(args.url, args.realm, pub_ser, f"{pub_ser} publisher")
        await publisher.publish(topic, *ARGS, options=PublishOptions(acknowledge=True), **KWARGS)
        for sub_ser, queue in received.items():
            who = f"{sub_ser} subscriber of a {pub_ser} publication"
            try:
                ev_args, ev_kwargs = await asyncio.wait_for(queue.get(), 5)
            except asyncio.TimeoutError:
                raise h.Failure(f"{who}: no EVENT within 5s") from None
            expect_eq(ev_args, ARGS, f"{who}: args")
            expect_eq(ev_kwargs, KWARGS, f"{who}: kwargs")  # (types compared too)
        step(f"{pub_ser} publication arrived identically at json, msgpack and cbor subscribers")
        await h.leave(publisher)

    await h.leave(*subscribers.values())


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
