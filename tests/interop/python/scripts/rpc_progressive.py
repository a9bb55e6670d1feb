#!/usr/bin/env python3
"""Progressive call results (wamp-spec §5.1) between Autobahn|Python sessions.

    python rpc_progressive.py results --url ws://127.0.0.1:8080/ws
    python rpc_progressive.py caller_leaves --url ws://127.0.0.1:8080/ws
    python rpc_progressive.py callee_leaves --url ws://127.0.0.1:8080/ws
    python rpc_progressive.py callee_without_canceling --url ws://127.0.0.1:8080/ws

results: a caller with ``CallOptions(on_progress=...)`` gets every progressive YIELD of the
callee (``details.progress(...)``) as a progressive RESULT, in order, each forwarded at once
(the callee sends the next one only after the caller saw the previous one), then the
final RESULT; a caller that did not ask for progress makes the callee see no
``details.progress``.

caller_leaves: a caller leaves in the middle of a stream (once with GOODBYE, once by
dropping its connection): the callee gets INTERRUPT mode killnowait, which Autobahn turns
into asyncio.CancelledError inside the running handler; the callee session stays usable.

callee_leaves: the callee leaves in the middle of a stream (GOODBYE, then a connection
drop): the caller, after the progressive results so far, gets ERROR wamp.error.canceled.

callee_without_canceling: a callee announcing progressive_call_results but not
call_canceling counts as not supporting progressive results: it is not asked for progress
(no receive_progress, so Autobahn gives it no details.progress); the caller gets the
final result.
"""

import asyncio

import _harness as h
from _harness import expect, expect_eq, step

CASES = ("results", "caller_leaves", "callee_leaves", "callee_without_canceling")


def options(parser):
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


async def results(args):
    from autobahn.wamp import message
    from autobahn.wamp.types import CallOptions, RegisterOptions

    proc = h.unique("com.interop.progress")
    callee = await h.join(args.url, args.realm, args.serializer, "callee")
    caller = await h.join(args.url, args.realm, args.serializer, "caller")
    record = h.record_incoming(caller)
    seen_by_caller = []
    got = [asyncio.Event() for _ in range(4)]
    callee_saw_progress = []

    async def stream(n, details=None):
        callee_saw_progress.append(details.progress is not None)
        if details.progress is None:
            return "no progress asked"
        for i in range(n):
            details.progress(i, square=i * i)
            # the next chunk only once the caller has this one: a dealer that held progressive
            # results back until the final YIELD would deadlock here (and time out)
            await asyncio.wait_for(got[i].wait(), 5)
        return "done"

    await callee.register(stream, proc, options=RegisterOptions(details_arg="details"))
    step(f"callee registered {proc}")

    def on_progress(*a, **kw):
        seen_by_caller.append((list(a), kw))
        got[len(seen_by_caller) - 1].set()

    res = await caller.call(proc, 3, options=CallOptions(on_progress=on_progress))
    expect_eq(res, "done", "final result")
    expect_eq(seen_by_caller, [([0], {"square": 0}), ([1], {"square": 1}), ([2], {"square": 4})],
              "progressive results (args, kwargs) in order")
    # Details.progress is exactly true on progressive RESULTs; absent or false on the final one
    results_on_wire = [(m.progress is True, m.args) for m in record if isinstance(m, message.Result)]
    expect_eq(results_on_wire, [(True, [0]), (True, [1]), (True, [2]), (False, ["done"])],
              "RESULT messages (Details.progress is true, args) on the wire")
    step("3 progressive RESULTs then the final one")

    # without receive_progress the callee must not be asked for progress
    record.clear()
    res = await caller.call(proc, 3)
    expect_eq(res, "no progress asked", "result of a call without on_progress")
    expect_eq(callee_saw_progress, [True, False], "callee saw details.progress (with, without receive_progress)")
    await h.leave(caller, callee)


async def caller_leaves(args):
    from autobahn.wamp import message
    from autobahn.wamp.types import CallOptions, RegisterOptions

    proc = h.unique("com.interop.progress.endless")
    ping = h.unique("com.interop.ping")
    callee = await h.join(args.url, args.realm, args.serializer, "callee")
    callee_in = h.record_incoming(callee)
    outcome = {}

    async def endless(name, details=None):
        i = 0
        try:
            while True:
                details.progress(name, i)
                i += 1
                await asyncio.sleep(0.02)
        except asyncio.CancelledError:
            outcome[name] = "cancelled"  # what Autobahn does on INTERRUPT
            raise

    await callee.register(endless, proc, options=RegisterOptions(details_arg="details"))
    await callee.register(lambda: "pong", ping)

    for how in ("goodbye", "connection_lost"):
        caller = await h.join(args.url, args.realm, args.serializer, f"caller ({how})")
        first = asyncio.get_running_loop().create_future()

        def on_progress(name, i, first=first):
            if not first.done():
                first.set_result(i)

        call = caller.call(proc, how, options=CallOptions(on_progress=on_progress))
        expect_eq(await asyncio.wait_for(first, 5), 0, "first progressive result")
        invocation = [m.request for m in callee_in if isinstance(m, message.Invocation) and m.args == [how]]
        expect_eq(len(invocation), 1, f"INVOCATIONs of the {how} call")
        step(f"stream running ({how}), caller leaves now")
        if how == "goodbye":
            await h.leave(caller)
        else:
            caller._transport.transport.abort()
            await asyncio.wait_for(asyncio.shield(caller.closed), 5)
        call.cancel()  # nothing more can arrive on the closed session; just tidy up
        await h.wait_until(lambda: how in outcome, f"INTERRUPT of the callee after the caller's {how}")
        interrupts = [m for m in callee_in if isinstance(m, message.Interrupt) and m.request == invocation[0]]
        expect_eq([m.mode for m in interrupts], ["killnowait"], f"INTERRUPT mode(s) after the caller's {how}")
        step(f"callee interrupted (killnowait) after the caller's {how}")

    # the callee's late ERROR (Autobahn answers the INTERRUPT) is dropped; it still serves
    other = await h.join(args.url, args.realm, args.serializer, "another caller")
    expect_eq(await other.call(ping), "pong", "call to the callee after the streams ended")
    expect(callee.is_attached(), "callee session still attached")
    await h.leave(other, callee)


async def callee_leaves(args):
    from autobahn.wamp.types import CallOptions, RegisterOptions

    caller = await h.join(args.url, args.realm, args.serializer, "caller")
    for how in ("goodbye", "connection_lost"):
        proc = h.unique("com.interop.progress.orphaned")
        callee = await h.join(args.url, args.realm, args.serializer, f"callee ({how})")

        async def two_then_wait(details=None):
            details.progress(1)
            details.progress(2)
            await asyncio.sleep(60)

        await callee.register(two_then_wait, proc, options=RegisterOptions(details_arg="details"))
        progress = []
        two = asyncio.get_running_loop().create_future()

        def on_progress(i):
            progress.append(i)
            if i == 2:
                two.set_result(None)

        call = caller.call(proc, options=CallOptions(on_progress=on_progress))
        await asyncio.wait_for(two, 5)
        step(f"2 progressive results in; the callee leaves ({how})")
        if how == "goodbye":
            await h.leave(callee)
        else:
            callee._transport.transport.abort()
        await h.expect_error(call, "wamp.error.canceled", f"call whose callee left ({how})")
        expect_eq(progress, [1, 2], "progressive results before the callee left")
    await h.leave(caller)


async def callee_without_canceling(args):
    from autobahn.wamp import message
    from autobahn.wamp.types import CallOptions, RegisterOptions

    proc = h.unique("com.interop.progress.nocancel")
    callee = await h.join(args.url, args.realm, args.serializer, "callee without call_canceling",
                          without_features={"callee": ["call_canceling"]})
    incoming = h.record_incoming(callee)
    caller = await h.join(args.url, args.realm, args.serializer, "caller")

    def maybe_stream(details=None):
        if details.progress is not None:
            details.progress("progress")
        return "final"

    await callee.register(maybe_stream, proc, options=RegisterOptions(details_arg="details"))
    progress = []
    res = await caller.call(proc, options=CallOptions(on_progress=progress.append))
    expect_eq((res, progress), ("final", []), "(result, progressive results) from a callee without call_canceling")
    asked = [m.receive_progress is True for m in incoming if isinstance(m, message.Invocation)]
    expect_eq(asked, [False], "INVOCATION.Details.receive_progress is true, at a callee without call_canceling")
    await h.leave(caller, callee)


async def main(args):
    await globals()[args.case](args)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
