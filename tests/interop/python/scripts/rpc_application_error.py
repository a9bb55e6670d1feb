#!/usr/bin/env python3
"""A callee raises ApplicationError("com.example.error.custom", 1, 2, foo="bar"); the caller
gets exactly that error URI, args and kwargs.

    python rpc_application_error.py --url ws://127.0.0.1:8080/ws --realm realm1 \
        [--callee-serializer json] [--caller-serializer json]
"""

import _harness as h
from _harness import expect, expect_eq, step


def options(parser):
    parser.add_argument("--callee-serializer", default="json", choices=h.SERIALIZERS)
    parser.add_argument("--caller-serializer", default="json", choices=h.SERIALIZERS)


async def main(args):
    from autobahn.wamp.exception import ApplicationError

    proc = h.unique("com.interop.error.raiser")
    callee = await h.join(args.url, args.realm, args.callee_serializer, "callee")
    caller = await h.join(args.url, args.realm, args.caller_serializer, "caller")

    def raiser(kind):
        if kind == "custom":
            raise ApplicationError("com.example.error.custom", 1, 2, foo="bar")
        if kind == "bare":
            raise ApplicationError("com.example.error.bare")
        return "no error"

    await callee.register(raiser, proc)
    step(f"registered {proc}")

    try:
        res = await caller.call(proc, "custom")
    except ApplicationError as e:
        step(f"caller got ERROR {e.error} args={list(e.args)} kwargs={e.kwargs}")
        expect_eq(e.error, "com.example.error.custom", "ERROR uri")
        expect_eq(list(e.args), [1, 2], "ERROR args")
        expect_eq(e.kwargs, {"foo": "bar"}, "ERROR kwargs")
    else:
        raise h.Failure(f"call was expected to fail with com.example.error.custom, returned {res!r}")

    try:
        res = await caller.call(proc, "bare")
    except ApplicationError as e:
        expect_eq(e.error, "com.example.error.bare", "ERROR uri (no payload)")
        expect(not e.args and not e.kwargs, f"ERROR without payload carries args={e.args!r} kwargs={e.kwargs!r}")
    else:
        raise h.Failure(f"call was expected to fail with com.example.error.bare, returned {res!r}")

    # the registration is still usable after errors
    expect_eq(await caller.call(proc, "none"), "no error", "call after errors")
    await h.leave(caller, callee)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
