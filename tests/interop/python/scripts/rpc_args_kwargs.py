#!/usr/bin/env python3
"""Register a procedure in one asyncio ApplicationSession and call it from another.

The callee returns both positional and keyword results (CallResult); the caller checks
that args and kwargs -- strings, numbers, lists, maps, null, booleans and a binary
value -- come back exactly, and that a plain single return value arrives as such.
Callee and caller may use different serializers, so the router has to translate.

    python rpc_args_kwargs.py --url ws://127.0.0.1:8080/ws --realm realm1 \
        --callee-serializer json --caller-serializer msgpack
"""

import _harness as h
from _harness import expect_eq, step


def options(parser):
    parser.add_argument("--callee-serializer", default="json", choices=h.SERIALIZERS)
    parser.add_argument("--caller-serializer", default="json", choices=h.SERIALIZERS)
    parser.add_argument("--transport", default="websocket", choices=("websocket", "rawsocket"),
                        help="transport of the caller (the callee always uses WebSocket)")


async def main(args):
    from autobahn.wamp.types import CallResult

    echo = h.unique("com.interop.rpc.echo")
    add = h.unique("com.interop.rpc.add")

    callee = await h.join(args.url, args.realm, args.callee_serializer, "callee")
    caller_url = args.rs_url if args.transport == "rawsocket" else args.url
    caller = await h.join(caller_url, args.realm, args.caller_serializer, "caller")

    invocations = []

    def do_echo(*args, **kwargs):
        invocations.append((args, kwargs))
        # Answer with both positional and keyword results, transformed so that a
        # router echoing the CALL back instead of routing the YIELD is caught.
        return CallResult(*reversed(args), count=len(args), **{f"got_{k}": v for k, v in kwargs.items()})

    def do_add(x, y):
        return x + y

    reg_echo = await callee.register(do_echo, echo)
    reg_add = await callee.register(do_add, add)
    step(f"registered {echo} (id {reg_echo.id}) and {add} (id {reg_add.id})")

    call_args = [1, "two", 3.5, [4, "four"], {"five": 5}, None, True, False, -7, 2**53 - 1, "ünïcödé ✓", b"\x00\x01\xfe\xff"]
    call_kwargs = {"a": 1, "b": "bee", "nested": {"list": [1, 2, {"x": None}], "flag": True}, "blob": bytes(range(256))}

    res = await caller.call(echo, *call_args, **call_kwargs)
    step(f"called {echo}")
    expect_eq(type(res).__name__, "CallResult", "result of a call returning args+kwargs")
    expect_eq(list(res.results), list(reversed(call_args)), "RESULT args")
    expected_kwargs = {f"got_{k}": v for k, v in call_kwargs.items()}
    expected_kwargs["count"] = len(call_args)
    expect_eq(res.kwresults, expected_kwargs, "RESULT kwargs")
    expect_eq(len(invocations), 1, "number of invocations of the callee")
    expect_eq(list(invocations[0][0]), call_args, "INVOCATION args seen by the callee")
    expect_eq(invocations[0][1], call_kwargs, "INVOCATION kwargs seen by the callee")

    # keyword-only call, no positional args at all
    res = await caller.call(echo, only="kw")
    expect_eq(list(res.results), [], "RESULT args of a kwargs-only call")
    expect_eq(res.kwresults, {"got_only": "kw", "count": 0}, "RESULT kwargs of a kwargs-only call")

    # a plain single return value
    expect_eq(await caller.call(add, 2, 3), 5, f"{add}(2, 3)")
    expect_eq(await caller.call(add, 0.25, 0.5), 0.75, f"{add}(0.25, 0.5)")
    expect_eq(await caller.call(add, "con", "cat"), "concat", f"{add}('con', 'cat')")
    step("plain results ok")

    await reg_echo.unregister()
    await reg_add.unregister()
    await h.leave(caller, callee)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
