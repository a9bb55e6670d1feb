#!/usr/bin/env python3
"""Registration meta API (wamp-spec §6.2, §5.10) called and watched by Autobahn|Python sessions.

Runs in a realm of its own (``<--realm>.<random>``, created on first use), so the lists
it reads hold exactly its own registrations.

    python rpc_registration_meta.py procedures|events|remove_callee|remove_callee_silently --url ws://127.0.0.1:8080/ws

procedures:    wamp.registration.list, lookup (with match options), match (best match:
               exact > longest prefix > wildcard), get (RegistrationDetails with invoke),
               list_callees, count_callees, and wamp.error.no_such_registration.
events:        on_create [session, RegistrationDetails], on_register, on_unregister and
               on_delete [session, registration], in that order, for a shared registration
               whose callees unregister and leave.
remove_callee: wamp.registration.remove_callee(registration, callee, reason) revokes one
               callee: it gets UNREGISTERED [67, 0, {registration, reason}], on_unregister
               fires, calls go to the remaining callee; removing the last one deletes the
               registration (on_delete).
remove_callee_silently: the same for a callee that does not announce
               registration_revocation: it is removed but gets no UNREGISTERED (spec MUST NOT).
"""

import asyncio
import re

import _harness as h
from _harness import expect, expect_eq, step

ISO8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
TOPICS = ("on_create", "on_register", "on_unregister", "on_delete")
NO_SUCH_ID = 1  # registration ids are random in [1, 2^53]: 1 is as good as any unused one


def options(parser):
    parser.add_argument("case", choices=("procedures", "events", "remove_callee", "remove_callee_silently"))
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


def expect_details(details, reg_id, uri, match, invoke, what):
    expect(isinstance(details, dict), f"{what}: RegistrationDetails is not a dict: {details!r}")
    created = details.get("created")
    expect(isinstance(created, str) and ISO8601.match(created), f"{what}: created is no ISO 8601 timestamp: {created!r}")
    rest = {k: v for k, v in details.items() if k != "created"}
    expect_eq(rest, {"id": reg_id, "uri": uri, "match": match, "invoke": invoke}, f"{what}: RegistrationDetails")


class MetaLog:
    """The four wamp.registration.on_* events, in arrival order, as (topic, args)."""

    def __init__(self):
        self.queue = asyncio.Queue()

    async def subscribe(self, session):
        for t in TOPICS:
            await session.subscribe(lambda *a, t=t: self.queue.put_nowait((t, list(a))), f"wamp.registration.{t}")

    async def until(self, topic, reg_id, timeout=5.0):
        """Events up to and including ``topic`` for ``reg_id``."""
        got = []
        while True:
            try:
                t, a = await asyncio.wait_for(self.queue.get(), timeout)
            except asyncio.TimeoutError:
                raise h.Failure(f"no wamp.registration.{topic} for {reg_id} within {timeout:g}s; got {got}") from None
            expect(len(a) >= 2, f"wamp.registration.{t} with fewer than 2 args: {a!r}")
            got.append((t, a))
            if t == topic and a[1:2] == [reg_id]:
                return got


def about(events, reg_id):
    """The events concerning ``reg_id``, with on_create's details reduced to the id."""
    out = []
    for t, a in events:
        concerned = (isinstance(a[1], dict) and a[1].get("id") == reg_id) if t == "on_create" else a[1:2] == [reg_id]
        if concerned:
            expect_eq(len(a), 2, f"wamp.registration.{t} args length")
            out.append((t, a[0], reg_id))
    return out


async def procedures(args, realm):
    from autobahn.wamp.types import RegisterOptions

    a = await h.join(args.url, realm, args.serializer, "callee A")
    b = await h.join(args.url, realm, args.serializer, "callee B")
    m = await h.join(args.url, realm, args.serializer, "meta caller")
    base = h.unique("com.interop.regmeta")
    P, Q, Q2, W, S = f"{base}.q.r.s", f"{base}.q", f"{base}.q.r", f"{base}..r.s", f"{base}.shared"
    reg = {
        "P": await a.register(lambda: "P", P),
        "Q": await a.register(lambda: "Q", Q, options=RegisterOptions(match="prefix")),
        "Q2": await a.register(lambda: "Q2", Q2, options=RegisterOptions(match="prefix")),
        "W": await a.register(lambda: "W", W, options=RegisterOptions(match="wildcard")),
        "S": await a.register(lambda: "S", S, options=RegisterOptions(invoke="roundrobin")),
    }
    expect_eq((await b.register(lambda: "S", S, options=RegisterOptions(invoke="roundrobin"))).id, reg["S"].id,
              "registration id of the second shared callee")
    r = {k: v.id for k, v in reg.items()}
    step(f"registered {r}")

    listed = await m.call("wamp.registration.list")
    expect(isinstance(listed, dict), f"wamp.registration.list: expected a dict, got {listed!r}")
    expect_eq({k: sorted(v) for k, v in listed.items()},
              {"exact": sorted([r["P"], r["S"]]), "prefix": sorted([r["Q"], r["Q2"]]), "wildcard": [r["W"]]},
              "wamp.registration.list")

    for uri, opts, expected in [
        (P, None, r["P"]), (Q, None, None), (Q, {"match": "prefix"}, r["Q"]), (Q2, {"match": "prefix"}, r["Q2"]),
        (W, {"match": "wildcard"}, r["W"]), (P, {"match": "prefix"}, None), (f"{base}.nothing", None, None),
        (S, {"match": "exact"}, r["S"]),
    ]:
        got = await (m.call("wamp.registration.lookup", uri) if opts is None else m.call("wamp.registration.lookup", uri, opts))
        expect_eq(got, expected, f"wamp.registration.lookup({uri!r}, {opts})")

    for uri, expected in [
        (P, r["P"]), (f"{base}.q.r.t", r["Q2"]), (f"{base}.q.x", r["Q"]), (f"{base}.z.r.s", r["W"]),
        (S, r["S"]), (f"{base}.nothing", None),
    ]:
        expect_eq(await m.call("wamp.registration.match", uri), expected, f"wamp.registration.match({uri!r})")
    step("list, lookup and match ok")

    expect_details(await m.call("wamp.registration.get", r["P"]), r["P"], P, "exact", "single", "get(P)")
    expect_details(await m.call("wamp.registration.get", r["Q"]), r["Q"], Q, "prefix", "single", "get(Q)")
    expect_details(await m.call("wamp.registration.get", r["W"]), r["W"], W, "wildcard", "single", "get(W)")
    expect_details(await m.call("wamp.registration.get", r["S"]), r["S"], S, "exact", "roundrobin", "get(S)")
    expect_eq(sorted(await m.call("wamp.registration.list_callees", r["S"])), sorted([a._session_id, b._session_id]),
              "list_callees(S)")
    expect_eq(await m.call("wamp.registration.list_callees", r["P"]), [a._session_id], "list_callees(P)")
    expect_eq(await m.call("wamp.registration.count_callees", r["S"]), 2, "count_callees(S)")
    expect_eq(await m.call("wamp.registration.count_callees", r["P"]), 1, "count_callees(P)")
    for proc in ("get", "list_callees", "count_callees"):
        await h.expect_error(m.call(f"wamp.registration.{proc}", NO_SUCH_ID), "wamp.error.no_such_registration",
                             f"wamp.registration.{proc}(unknown id)")
    step("get, list_callees, count_callees ok")

    # B leaves: S has one callee left, and after unregistering P it is gone
    await h.leave(b)
    await reg["P"].unregister()
    expect_eq(await m.call("wamp.registration.list_callees", r["S"]), [a._session_id], "list_callees(S) after B left")
    expect_eq(await m.call("wamp.registration.count_callees", r["S"]), 1, "count_callees(S) after B left")
    await h.expect_error(m.call("wamp.registration.get", r["P"]), "wamp.error.no_such_registration", "get(P) after unregister")
    expect_eq(await m.call("wamp.registration.lookup", P), None, "lookup(P) after unregister")
    expect_eq(await m.call("wamp.registration.match", P), r["Q2"], "match(P) after the exact registration went")
    await h.leave(a, m)


async def events(args, realm):
    from autobahn.wamp.types import RegisterOptions

    m = await h.join(args.url, realm, args.serializer, "meta subscriber")
    log = MetaLog()
    await log.subscribe(m)
    a = await h.join(args.url, realm, args.serializer, "callee A")
    b = await h.join(args.url, realm, args.serializer, "callee B")
    S = h.unique("com.interop.regmeta.shared")
    A, B = a._session_id, b._session_id

    rs = await a.register(lambda: "A", S, options=RegisterOptions(invoke="roundrobin"))
    created = await log.until("on_register", rs.id)
    create = [x for t, x in created if t == "on_create"]
    expect_eq(len(create), 1, "on_create events")
    expect_eq(create[0][0], A, "on_create session")
    expect_details(create[0][1], rs.id, S, "exact", "roundrobin", "on_create details")
    reg_b = await b.register(lambda: "B", S, options=RegisterOptions(invoke="roundrobin"))
    expect_eq(reg_b.id, rs.id, "shared registration id")
    got = created + await log.until("on_register", rs.id)
    await reg_b.unregister()
    got += await log.until("on_unregister", rs.id)
    await h.leave(a)  # the last callee's session ends: unregister, then delete
    got += await log.until("on_delete", rs.id)
    expect_eq(about(got, rs.id), [
        ("on_create", A, rs.id), ("on_register", A, rs.id), ("on_register", B, rs.id),
        ("on_unregister", B, rs.id), ("on_unregister", A, rs.id), ("on_delete", A, rs.id),
    ], "registration meta events (topic, session, registration) in order")
    step("shared registration: create, register x2, unregister x2, delete")

    # plain UNREGISTER of a single registration: all four, in order; nothing more about the first one
    T = h.unique("com.interop.regmeta.single")
    rt = await b.register(lambda: "B", T)
    await rt.unregister()
    got = await log.until("on_delete", rt.id)
    expect_eq(about(got, rt.id), [("on_create", B, rt.id), ("on_register", B, rt.id), ("on_unregister", B, rt.id),
                                  ("on_delete", B, rt.id)], "meta events of a registration unregistered by its callee")
    expect_eq(about(got, rs.id), [], "further meta events about the deleted shared registration")
    await h.leave(b, m)


async def remove_callee(args, realm, silently=False):
    from autobahn.wamp import message
    from autobahn.wamp.types import RegisterOptions

    m = await h.join(args.url, realm, args.serializer, "admin")
    log = MetaLog()
    await log.subscribe(m)
    a = await h.join(args.url, realm, args.serializer, "callee A")
    b = await h.join(args.url, realm, args.serializer, "callee B",
                     without_features={"callee": ["registration_revocation"]} if silently else None)
    b_in = h.record_incoming(b)
    S = h.unique("com.interop.regmeta.revoke")
    rs = await a.register(lambda: "A", S, options=RegisterOptions(invoke="roundrobin"))
    await b.register(lambda: "B", S, options=RegisterOptions(invoke="roundrobin"))
    await log.until("on_register", rs.id)
    await log.until("on_register", rs.id)

    res = await m.call("wamp.registration.remove_callee", rs.id, b._session_id, "com.interop.removed")
    expect_eq(res, None, "result of wamp.registration.remove_callee")
    got = await log.until("on_unregister", rs.id)
    expect_eq(about(got, rs.id), [("on_unregister", b._session_id, rs.id)], "meta events after removing callee B")
    if silently:
        # a round trip on B's connection: an UNREGISTERED sent to B would have arrived first
        await b.call("wamp.session.count")
    else:
        await h.wait_until(lambda: any(isinstance(x, message.Unregistered) for x in b_in), "UNREGISTERED at callee B")
    revoked = [(x.request, x.registration, x.reason) for x in b_in if isinstance(x, message.Unregistered)]
    expect_eq(revoked, [] if silently else [(0, rs.id, "com.interop.removed")],
              "UNREGISTERED (request, registration, reason) at B")
    expect_eq(await m.call("wamp.registration.list_callees", rs.id), [a._session_id], "callees after removing B")
    expect_eq([await m.call(S) for _ in range(3)], ["A", "A", "A"], "callees of 3 calls after removing B")
    step("callee B revoked")

    await m.call("wamp.registration.remove_callee", rs.id, a._session_id)
    got = await log.until("on_delete", rs.id)
    expect_eq(about(got, rs.id), [("on_unregister", a._session_id, rs.id), ("on_delete", a._session_id, rs.id)],
              "meta events after removing the last callee")
    await h.expect_error(m.call(S), "wamp.error.no_such_procedure", "call after removing every callee")
    await h.expect_error(m.call("wamp.registration.get", rs.id), "wamp.error.no_such_registration",
                         "get after removing every callee")
    await h.expect_error(m.call("wamp.registration.remove_callee", NO_SUCH_ID, a._session_id),
                         "wamp.error.no_such_registration", "remove_callee(unknown registration)")
    expect(a.is_attached() and b.is_attached(), "revoked callees stay attached")
    await h.leave(a, b, m)


async def main(args):
    realm = h.unique(args.realm)
    if args.case == "remove_callee_silently":
        return await remove_callee(args, realm, silently=True)
    await {"procedures": procedures, "events": events, "remove_callee": remove_callee}[args.case](args, realm)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
