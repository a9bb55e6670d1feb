#!/usr/bin/env python3
"""Call timeout enforced by the dealer (wamp-spec §5.3) against Autobahn|Python sessions.

Autobahn's callee announces call_canceling but not call_timeout, so the dealer itself must
time the call: on expiry the caller gets ERROR wamp.error.timeout and the callee INTERRUPT
mode killnowait (Autobahn cancels the running handler); a late YIELD is dropped.
``CallOptions(timeout=N)`` puts N unchanged into CALL.Options.timeout, which the spec
defines in milliseconds.

    python rpc_timeout.py call_timeout --url ws://127.0.0.1:8080/ws
    python rpc_timeout.py progress_gaps --url ...      (timeout per gap between progressive results)
    python rpc_timeout.py forward_timeout --url ...    (REGISTER forward_timeout: the callee times)
    python rpc_timeout.py callee_without_canceling --url ...  (timeout in mode skip: no INTERRUPT)
    python rpc_timeout.py realm_default --ms 400 --url ...   (realm's call_timeout_default_ms)
    python rpc_timeout.py realm_max --ms 800 --url ...       (realm's call_timeout_max_ms)
"""

import asyncio

import _harness as h
from _harness import expect, expect_eq, step

CASES = ("call_timeout", "progress_gaps", "forward_timeout", "callee_without_canceling", "realm_default", "realm_max")


def options(parser):
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--ms", type=int, default=0, help="the realm's configured default/maximum (ms)")
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


class Callee:
    """A callee with ``slow`` (never finishes by itself; records its interruption, and
    with ``late=True`` ignores it and yields a late result) and ``quick``."""

    def __init__(self, session, base):
        self.session = session
        self.incoming = h.record_incoming(session)
        self.slow = f"{base}.slow"
        self.quick = f"{base}.quick"
        self.stream = f"{base}.stream"
        self.interrupted = {}  # tag -> loop time
        self.late_sent = asyncio.Event()

    async def setup(self):
        from autobahn.wamp.types import RegisterOptions

        await self.session.register(self._slow, self.slow)
        await self.session.register(lambda x: ["quick", x], self.quick)
        await self.session.register(self._stream, self.stream, options=RegisterOptions(details_arg="details"))

    async def _slow(self, tag, late=False):
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.interrupted[tag] = asyncio.get_running_loop().time()
            if not late:
                raise
        # the handler ignores the INTERRUPT and answers anyway: the dealer must drop this YIELD
        await asyncio.sleep(0.1)
        self.late_sent.set()
        return "late result"

    async def _stream(self, chunks, gap, details=None):
        for i in range(chunks):
            await asyncio.sleep(gap)
            details.progress(i)
        await asyncio.sleep(gap)
        return "stream done"

    def interrupt_modes(self, tag):
        from autobahn.wamp import message

        requests = [m.request for m in self.incoming if isinstance(m, message.Invocation) and (m.args or [])[:1] == [tag]]
        expect_eq(len(requests), 1, f"INVOCATIONs for call {tag!r}")
        return [m.mode for m in self.incoming if isinstance(m, message.Interrupt) and m.request == requests[0]]


async def timed_out_call(caller, callee, tag, expected_s, timeout_ms=None, late=False):
    """Call ``slow`` and require ERROR wamp.error.timeout after about ``expected_s``."""
    from autobahn.wamp.types import CallOptions

    loop = asyncio.get_running_loop()
    options = CallOptions(timeout=timeout_ms) if timeout_ms is not None else None
    start = loop.time()
    await h.expect_error(caller.call(callee.slow, tag, late=late, options=options), "wamp.error.timeout",
                         f"call {tag!r} (timeout {timeout_ms} ms)")
    elapsed = loop.time() - start
    expect(expected_s - 0.02 <= elapsed <= expected_s + 1.5,
           f"call {tag!r}: wamp.error.timeout after {elapsed:.3f}s, expected about {expected_s:g}s")
    await h.wait_until(lambda: tag in callee.interrupted, f"the callee's INTERRUPT for call {tag!r}")
    expect_eq(callee.interrupt_modes(tag), ["killnowait"], f"INTERRUPT mode(s) for call {tag!r}")
    step(f"call {tag!r}: wamp.error.timeout after {elapsed:.3f}s, callee interrupted (killnowait)")


async def setup(args, without_features=None):
    base = h.unique("com.interop.timeout")
    callee = Callee(await h.join(args.url, args.realm, args.serializer, "callee", without_features=without_features), base)
    await callee.setup()
    caller = await h.join(args.url, args.realm, args.serializer, "caller")
    return caller, callee


async def call_timeout(args):
    from autobahn.wamp.types import CallOptions

    caller, callee = await setup(args)
    await timed_out_call(caller, callee, "plain", 0.3, timeout_ms=300)

    # a YIELD after the timeout is dropped: Autobahn would treat a RESULT for a finished
    # call as a protocol error and drop the connection, so the caller must stay attached
    await timed_out_call(caller, callee, "late", 0.3, timeout_ms=300, late=True)
    await asyncio.wait_for(callee.late_sent.wait(), 5)
    expect_eq(await caller.call(callee.quick, 1), ["quick", 1], "call after the late YIELD")
    expect(caller.is_attached(), "caller still attached after the callee's late YIELD")

    # a call that finishes in time is not affected by its timeout
    expect_eq(await caller.call(callee.quick, 2, options=CallOptions(timeout=2000)), ["quick", 2],
              "call finishing within its timeout")
    await h.leave(caller, callee.session)


async def progress_gaps(args):
    from autobahn.wamp.types import CallOptions

    caller, callee = await setup(args)
    # wamp-spec §5.1: with progressive results the timeout runs between CALL and the first
    # YIELD and between consecutive YIELDs, not over the whole call: 6 chunks 0.12 s apart
    # (0.84 s in all) within a 400 ms timeout succeed ...
    progress = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    res = await caller.call(callee.stream, 6, 0.12,
                            options=CallOptions(timeout=400, on_progress=lambda i: progress.append(i)))
    expect_eq((res, progress), ("stream done", [0, 1, 2, 3, 4, 5]), "progressive call with short gaps")
    step(f"progressive call of {loop.time() - start:.2f}s completed within a 400 ms per-gap timeout")
    # ... while one gap longer than the timeout ends the call
    await h.expect_error(caller.call(callee.stream, 3, 0.6, options=CallOptions(timeout=300, on_progress=progress.append)),
                         "wamp.error.timeout", "progressive call with a 0.6 s gap and a 300 ms timeout")
    await h.leave(caller, callee.session)


async def forward_timeout(args):
    from autobahn.wamp import message
    from autobahn.wamp.exception import ApplicationError
    from autobahn.wamp.types import CallOptions

    caller, callee = await setup(args)
    proc = h.unique("com.interop.timeout.forwarded")
    interrupted = []

    async def own_timer(tag):
        # the callee enforces the forwarded timeout itself (Autobahn has no callee-side
        # timeouts), deliberately late: 0.45 s for 300 ms
        try:
            await asyncio.sleep(0.45)
        except asyncio.CancelledError:
            interrupted.append(tag)
            raise
        raise ApplicationError("wamp.error.timeout", "callee gave up")

    h.inject_options(callee.session, message.Register, forward_timeout=True)
    await callee.session.register(own_timer, proc)
    err = await h.expect_error(caller.call(proc, "forwarded", options=CallOptions(timeout=300)), "wamp.error.timeout",
                               "call to a forward_timeout registration")
    expect_eq(list(err.args), ["callee gave up"], "args of the caller's ERROR (the callee's own)")
    invocations = [m for m in callee.incoming if isinstance(m, message.Invocation) and m.args == ["forwarded"]]
    expect_eq([m.timeout for m in invocations], [300], "INVOCATION.Details.timeout (ms) forwarded to the callee")
    expect_eq(interrupted, [], "forwarded timeout: the dealer interrupted the callee")
    expect_eq([m for m in callee.incoming if isinstance(m, message.Interrupt)], [], "INTERRUPTs sent to the callee")
    step("timeout forwarded to the callee, which answered wamp.error.timeout itself")
    await h.leave(caller, callee.session)


async def callee_without_canceling(args):
    from autobahn.wamp import message
    from autobahn.wamp.types import CallOptions

    caller, callee = await setup(args, {"callee": ["call_canceling"]})
    proc = h.unique("com.interop.timeout.uninterruptible")
    finished = asyncio.Event()

    async def takes_a_while():
        await asyncio.sleep(0.5)
        finished.set()
        return "too late"

    await callee.session.register(takes_a_while, proc)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await h.expect_error(caller.call(proc, options=CallOptions(timeout=200)), "wamp.error.timeout",
                         "call timing out at a callee without call_canceling")
    elapsed = loop.time() - start
    expect(0.18 <= elapsed <= 0.45, f"wamp.error.timeout after {elapsed:.3f}s, expected about 0.2s")
    await asyncio.wait_for(finished.wait(), 5)
    expect_eq(await caller.call(callee.quick, 3), ["quick", 3], "call after the callee's late YIELD")
    expect_eq([m for m in callee.incoming if isinstance(m, message.Interrupt)], [],
              "INTERRUPTs sent to a callee without call_canceling")
    step("timed out in mode skip: no INTERRUPT, late YIELD dropped")
    await h.leave(caller, callee.session)


async def realm_default(args):
    caller, callee = await setup(args)
    # no CALL.Options.timeout: the realm's default applies
    await timed_out_call(caller, callee, "default", args.ms / 1000)
    await h.leave(caller, callee.session)


async def realm_max(args):
    caller, callee = await setup(args)
    # asking for more than the realm's maximum gets the maximum ...
    await timed_out_call(caller, callee, "capped", args.ms / 1000, timeout_ms=60000)
    # ... and a shorter timeout is kept
    await timed_out_call(caller, callee, "short", 0.2, timeout_ms=200)
    await h.leave(caller, callee.session)


async def main(args):
    await globals()[args.case](args)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
