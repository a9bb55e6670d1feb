#!/usr/bin/env python3
"""Shared registration (wamp-spec §5.8): several Autobahn callees register one URI with
RegisterOptions(invoke=...); calls are distributed by the invoke policy.

    python rpc_shared_registration.py roundrobin|random|first|last|policy_conflict --url ws://127.0.0.1:8080/ws

Three callees A, B, C register in that order (same registration id for all).
roundrobin: calls go A, B, C, A, B, C ... (registration order, wrapping); with B gone, A and C alternate.
random:     60 calls reach every callee, in no fixed rotation.
first:      every call goes to A; once A unregisters, to B.
last:       every call goes to C; once C's session leaves, to B.
policy_conflict: registering the URI with another invoke policy (or "single") fails with
            wamp.error.procedure_already_exists; the same policy joins the registration.
concurrency: RegisterOptions(concurrency=1): three concurrent calls reach the callee one at
            a time, in call order; the others wait in the dealer's queue. A queued call
            canceled (CANCEL killnowait) gets ERROR wamp.error.canceled and never reaches
            the callee.
"""

from collections import Counter

import _harness as h
from _harness import expect, expect_eq, step

CASES = ("roundrobin", "random", "first", "last", "policy_conflict", "concurrency")


def options(parser):
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


async def callees(args, proc, policy, names=("A", "B", "C")):
    from autobahn.wamp.types import RegisterOptions

    sessions, regs = {}, {}
    for name in names:
        sessions[name] = await h.join(args.url, args.realm, args.serializer, f"callee {name}")
        regs[name] = await sessions[name].register(lambda name=name: name, proc, options=RegisterOptions(invoke=policy))
    expect_eq(len({r.id for r in regs.values()}), 1, f"registration ids of the {policy} callees (one shared registration)")
    step(f"callees {', '.join(names)} registered {proc} invoke={policy}")
    return sessions, regs


async def calls(caller, proc, n):
    return [await caller.call(proc) for _ in range(n)]


def expect_rotation(seen, order, what):
    """``seen`` cycles through ``order`` (starting anywhere)."""
    start = order.index(seen[0]) if seen and seen[0] in order else 0
    expected = [order[(start + i) % len(order)] for i in range(len(seen))]
    expect_eq(seen, expected, what)


async def concurrency(args, caller, proc):
    import asyncio

    from autobahn.wamp.message import Cancel
    from autobahn.wamp.types import RegisterOptions

    callee = await h.join(args.url, args.realm, args.serializer, "callee")
    running, started = [], []
    release = {i: asyncio.Event() for i in range(3)}

    async def work(i):
        running.append(i)
        started.append(i)
        await release[i].wait()
        running.remove(i)
        return i

    await callee.register(work, proc, options=RegisterOptions(concurrency=1))
    ping = h.unique("com.interop.ping")
    await callee.register(lambda: "pong", ping)
    futures = [caller.call(proc, i) for i in range(4)]
    # cancel the last one while it waits in the queue
    queued = [rid for rid, req in caller._call_reqs.items() if req.on_reply is futures[3]]
    expect_eq(len(queued), 1, "outstanding CALL request of the 4th call")
    caller._transport.send(Cancel(queued[0], mode="killnowait"))
    await h.expect_error(futures[3], "wamp.error.canceled", "queued call canceled")
    for i in range(3):
        await h.wait_until(lambda: i in started, f"invocation {i}")
        # INVOCATIONs from one caller reach the callee in CALL order, across procedures: had
        # the dealer not held the later calls back, they would arrive before this ping
        expect_eq(await caller.call(ping), "pong", "ping")
        expect_eq(running, [i], f"invocations running at once (after {i} started)")
        release[i].set()
        expect_eq(await asyncio.wait_for(futures[i], 5), i, f"result of call {i}")
    expect_eq(await caller.call(ping), "pong", "ping after the last call")
    expect_eq(started, [0, 1, 2], "order in which the queued calls started (the canceled 4th never)")
    return callee


async def main(args):
    from autobahn.wamp.types import RegisterOptions

    proc = h.unique("com.interop.shared")
    caller = await h.join(args.url, args.realm, args.serializer, "caller")
    case = args.case

    if case == "roundrobin":
        sessions, regs = await callees(args, proc, "roundrobin")
        seen = await calls(caller, proc, 7)
        expect_rotation(seen, ["A", "B", "C"], "roundrobin: callees of 7 calls")
        await regs["B"].unregister()
        seen = await calls(caller, proc, 4)
        expect_rotation(seen, ["A", "C"], "roundrobin after B unregistered: callees of 4 calls")
    elif case == "random":
        sessions, regs = await callees(args, proc, "random")
        seen = await calls(caller, proc, 60)
        counts = Counter(seen)
        step(f"random: {dict(counts)}")
        expect_eq(sorted(counts), ["A", "B", "C"], "random: callees reached by 60 calls")
        expect(min(counts.values()) >= 5, f"random: a callee got fewer than 5 of 60 calls: {dict(counts)}")
        rotations = [[o[(s + i) % 3] for i in range(60)] for o in (["A", "B", "C"], ["A", "C", "B"]) for s in range(3)]
        expect(seen not in rotations, "random: calls went round robin")
    elif case == "first":
        sessions, regs = await callees(args, proc, "first")
        expect_eq(await calls(caller, proc, 4), ["A"] * 4, "first: callees of 4 calls")
        await regs["A"].unregister()
        expect_eq(await calls(caller, proc, 3), ["B"] * 3, "first: callees of 3 calls after A unregistered")
    elif case == "last":
        sessions, regs = await callees(args, proc, "last")
        expect_eq(await calls(caller, proc, 4), ["C"] * 4, "last: callees of 4 calls")
        await h.leave(sessions.pop("C"))
        expect_eq(await calls(caller, proc, 3), ["B"] * 3, "last: callees of 3 calls after C left")
    elif case == "concurrency":
        sessions = {"A": await concurrency(args, caller, proc)}
    else:
        sessions, regs = await callees(args, proc, "roundrobin", names=("A",))
        other = await h.join(args.url, args.realm, args.serializer, "callee B")
        sessions["B"] = other
        for policy in ("random", "first", "last", "single", None):
            await h.expect_error(other.register(lambda: "B", proc, options=RegisterOptions(invoke=policy)),
                                 "wamp.error.procedure_already_exists",
                                 f"registering roundrobin {proc} with invoke={policy}")
        reg = await other.register(lambda: "B", proc, options=RegisterOptions(invoke="roundrobin"))
        expect_eq(reg.id, regs["A"].id, "registration id of a second roundrobin callee")
        expect_eq(sorted(await calls(caller, proc, 2)), ["A", "B"], "callees of 2 calls after B joined")
        # and the other way round: a "single" registration admits nobody else
        single = h.unique("com.interop.single")
        await sessions["A"].register(lambda: "A", single, options=RegisterOptions(invoke="single"))
        for policy in ("roundrobin", "random", "first", "last", "single"):
            await h.expect_error(other.register(lambda: "B", single, options=RegisterOptions(invoke=policy)),
                                 "wamp.error.procedure_already_exists",
                                 f"registering single {single} with invoke={policy}")
    step(f"{case} ok")
    await h.leave(caller, *sessions.values())


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
