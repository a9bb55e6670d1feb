#!/usr/bin/env python3
"""Call canceling (wamp-spec §5.4) with each mode, between Autobahn|Python sessions.

Autobahn's only public way to cancel is ``f = session.call(...); f.cancel()``: it sends
``CANCEL [49, request, {}]`` without a mode (26.10.2 has no default-mode setting; see the
``canceller`` in autobahn/wamp/protocol.py ApplicationSession.call) and the future fails
with CancelledError at once. To pick a mode the scenario sends
``autobahn.wamp.message.Cancel(request, mode=...)`` through the caller's transport and
leaves the call's future alone, so the router's ERROR reaches it as ApplicationError.
On INTERRUPT, Autobahn cancels the handler's task: the handler sees CancelledError, and
whatever it then returns or raises becomes its YIELD / ERROR.

    python rpc_cancel.py skip|kill|kill_result|killnowait|no_mode|callee_without_canceling --url ws://127.0.0.1:8080/ws

skip:        caller gets ERROR wamp.error.canceled while the handler still runs; the callee
             gets no INTERRUPT; the handler's later YIELD is dropped.
kill:        callee gets INTERRUPT mode kill; the caller's ERROR wamp.error.canceled comes
             only after the callee answered (with the callee's ERROR).
kill_result: in kill mode a callee that finishes anyway: the caller gets its RESULT.
killnowait:  caller gets ERROR wamp.error.canceled at once, the callee INTERRUPT mode
             killnowait; the callee's later answer is dropped; further CANCELs for the
             finished call are ignored.
no_mode:     Autobahn's f.cancel() (no mode): treated as killnowait (§5.4 recommendation);
             the router still answers with ERROR wamp.error.canceled.
callee_without_canceling: the callee does not announce call_canceling: CANCEL mode kill
             becomes skip (caller answered at once, no INTERRUPT, late YIELD dropped).
"""

import asyncio

import _harness as h
from _harness import expect, expect_eq, step

CASES = ("skip", "kill", "kill_result", "killnowait", "no_mode", "callee_without_canceling")


def options(parser):
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


class Invocation:
    def __init__(self):
        self.started = asyncio.Event()
        self.release = asyncio.Event()  # lets the handler finish normally
        self.interrupted = False
        self.answered = False  # the handler's YIELD/ERROR is on its way


class Callee:
    """``work(tag, on_interrupt)``: waits until released or interrupted. On interrupt,
    ``on_interrupt`` says what it does: "raise" (re-raise CancelledError at once),
    "error_later" (after 0.3 s, raise ApplicationError wamp.error.canceled "callee cleaned up"),
    "result" (return "finished anyway")."""

    def __init__(self, session, base):
        self.session = session
        self.incoming = h.record_incoming(session)
        self.work = f"{base}.work"
        self.ping = f"{base}.ping"
        self.calls = {}

    async def setup(self):
        await self.session.register(self._work, self.work)
        await self.session.register(lambda: "pong", self.ping)

    async def _work(self, tag, on_interrupt):
        from autobahn.wamp.exception import ApplicationError

        inv = self.calls.setdefault(tag, Invocation())
        inv.started.set()
        try:
            await inv.release.wait()
        except asyncio.CancelledError:
            inv.interrupted = True
            if on_interrupt == "raise":
                raise
            if on_interrupt == "error_later":
                await asyncio.sleep(0.3)
                inv.answered = True
                raise ApplicationError("wamp.error.canceled", "callee cleaned up")
            inv.answered = True
            return "finished anyway"
        inv.answered = True
        return "completed"

    def interrupt_modes(self, tag):
        from autobahn.wamp import message

        requests = [m.request for m in self.incoming if isinstance(m, message.Invocation) and (m.args or [])[:1] == [tag]]
        expect_eq(len(requests), 1, f"INVOCATIONs for call {tag!r}")
        return [m.mode for m in self.incoming if isinstance(m, message.Interrupt) and m.request == requests[0]]


async def start_call(caller, callee, tag, on_interrupt):
    callee.calls[tag] = Invocation()
    fut = caller.call(callee.work, tag, on_interrupt)
    await asyncio.wait_for(callee.calls[tag].started.wait(), 5)
    request = [rid for rid, req in caller._call_reqs.items() if req.on_reply is fut]
    expect_eq(len(request), 1, "outstanding CALL request for the future")
    return fut, request[0]


def send_cancel(caller, request, mode):
    from autobahn.wamp.message import Cancel

    caller._transport.send(Cancel(request, mode=mode))
    step(f"sent CANCEL {request} mode={mode}")


async def still_fine(caller, callee, what):
    """Round trip through the callee: proves earlier messages are through and that the
    caller (which Autobahn would disconnect on a RESULT/ERROR for a finished call) is fine."""
    expect_eq(await caller.call(callee.ping), "pong", f"ping through the callee ({what})")
    expect(caller.is_attached() and callee.session.is_attached(), f"both sessions attached ({what})")


async def main(args):
    base = h.unique("com.interop.cancel")
    without = {"callee": ["call_canceling"]} if args.case == "callee_without_canceling" else None
    callee = Callee(await h.join(args.url, args.realm, args.serializer, "callee", without_features=without), base)
    await callee.setup()
    caller = await h.join(args.url, args.realm, args.serializer, "caller")
    case = args.case
    inv_of = callee.calls.get

    if case in ("skip", "callee_without_canceling"):
        mode = "skip" if case == "skip" else "kill"  # kill is only possible with call_canceling
        fut, request = await start_call(caller, callee, "skip", "raise")
        send_cancel(caller, request, mode)
        err = await h.expect_error(fut, "wamp.error.canceled", f"call canceled with mode {mode} ({case})")
        inv = inv_of("skip")
        expect(not inv.interrupted and not inv.answered, "skip: handler still running when the caller got ERROR")
        await still_fine(caller, callee, "after skip")
        expect_eq(callee.interrupt_modes("skip"), [], "skip: INTERRUPTs sent to the callee")
        expect(not inv.interrupted, "skip: handler was interrupted")
        inv.release.set()  # the handler's YIELD now comes too late and must be dropped
        await h.wait_until(lambda: inv.answered, "the skipped handler to finish")
        await still_fine(caller, callee, "after the skipped handler's late YIELD")
        step(f"skip ok (caller ERROR args {list(err.args)})")

    elif case == "kill":
        fut, request = await start_call(caller, callee, "kill", "error_later")
        send_cancel(caller, request, "kill")
        err = await h.expect_error(fut, "wamp.error.canceled", "call canceled with mode kill")
        inv = inv_of("kill")
        expect(inv.interrupted, "kill: callee not interrupted")
        expect(inv.answered, "kill: the caller got ERROR before the callee answered the INTERRUPT")
        expect_eq(callee.interrupt_modes("kill"), ["kill"], "kill: INTERRUPT mode(s)")
        expect_eq(list(err.args), ["callee cleaned up"], "kill: args of the caller's ERROR (the callee's answer)")
        await still_fine(caller, callee, "after kill")

    elif case == "kill_result":
        fut, request = await start_call(caller, callee, "kill_result", "result")
        send_cancel(caller, request, "kill")
        # the callee finished first (it ignored the interruption): its RESULT goes through
        expect_eq(await asyncio.wait_for(fut, 5), "finished anyway", "kill: result of a callee that finished anyway")
        expect(inv_of("kill_result").interrupted, "kill: callee not interrupted")
        expect_eq(callee.interrupt_modes("kill_result"), ["kill"], "kill: INTERRUPT mode(s)")
        await still_fine(caller, callee, "after kill with result")

    elif case == "killnowait":
        fut, request = await start_call(caller, callee, "killnowait", "error_later")
        send_cancel(caller, request, "killnowait")
        await h.expect_error(fut, "wamp.error.canceled", "call canceled with mode killnowait")
        inv = inv_of("killnowait")
        expect(not inv.answered, "killnowait: the caller's ERROR waited for the callee's answer")
        await h.wait_until(lambda: inv.interrupted, "killnowait: the callee's INTERRUPT")
        expect_eq(callee.interrupt_modes("killnowait"), ["killnowait"], "killnowait: INTERRUPT mode(s)")
        await h.wait_until(lambda: inv.answered, "killnowait: the callee's (late) answer")
        await still_fine(caller, callee, "after the callee's late answer to killnowait")
        # CANCEL for a call that is over is ignored (no second ERROR: Autobahn would drop
        # the connection on an ERROR for a request it no longer has)
        send_cancel(caller, request, "killnowait")
        send_cancel(caller, request, "kill")
        await still_fine(caller, callee, "after CANCELs for a finished call")

    elif case == "no_mode":
        from autobahn.wamp import message

        caller_in = h.record_incoming(caller)
        sent = []
        send = caller._transport.send
        caller._transport.send = lambda msg: (sent.append(msg), send(msg))[1]
        fut, request = await start_call(caller, callee, "no_mode", "raise")
        fut.cancel()
        try:
            await fut
        except asyncio.CancelledError:
            pass
        else:
            raise h.Failure("f.cancel(): the call's future did not fail with CancelledError")
        # Autobahn sends the CANCEL from a done-callback of the future, i.e. a moment later
        await h.wait_until(lambda: any(isinstance(m, message.Cancel) for m in sent), "Autobahn's CANCEL")
        cancels = [m for m in sent if isinstance(m, message.Cancel)]
        expect_eq([(m.request, m.mode) for m in cancels], [(request, None)], "CANCEL sent by f.cancel()")
        await h.wait_until(lambda: inv_of("no_mode").interrupted, "the callee's INTERRUPT after f.cancel()")
        expect_eq(callee.interrupt_modes("no_mode"), ["killnowait"], "INTERRUPT mode(s) for CANCEL without mode")
        await h.wait_until(lambda: any(isinstance(m, message.Error) and m.request == request for m in caller_in),
                           "the router's ERROR for the canceled call")
        errors = [m.error for m in caller_in if isinstance(m, message.Error) and m.request == request]
        expect_eq(errors, ["wamp.error.canceled"], "ERROR(s) for the call canceled without mode")
        await still_fine(caller, callee, "after f.cancel()")

    step(f"{case} ok")
    await h.leave(caller, callee.session)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
