#!/usr/bin/env python3
"""Session meta API (wamp-spec §6.1) called and watched by Autobahn|Python sessions.

Runs in a realm of its own (``<--realm>.<random>``, created on first use), so counts and
lists hold exactly its own sessions. All sessions are anonymous: authrole "anonymous",
an authid of their own.

    python session_meta.py CASE --url ws://127.0.0.1:8080/ws

count_list_get:   wamp.session.count / list (with and without an authrole filter) and
                  wamp.session.get (details as in WELCOME), no_such_session.
join_leave:       wamp.session.on_join [details] and wamp.session.on_leave
                  [session, authid, authrole] for a session joining and leaving.
kill:             wamp.session.kill(session, reason=, message=) closes that session with
                  GOODBYE reason/message (default reason wamp.close.killed); on_leave and
                  its testament follow; killing oneself or an unknown session fails with
                  no_such_session, an invalid reason with invalid_uri.
kill_by_authid:   returns the list of killed session ids; only that authid's session goes.
kill_by_authrole: returns the count; every other "anonymous" session goes, the caller stays.
kill_all:         returns the count; every other session goes, without on_leave events and
                  without testaments.
"""

import asyncio

import _harness as h
from _harness import expect, expect_eq, step

CASES = ("count_list_get", "join_leave", "kill", "kill_by_authid", "kill_by_authrole", "kill_all")
NO_SUCH_ID = 1


def options(parser):
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


def welcome_details(s):
    """What the session's WELCOME said about it, in the shape of on_join / session.get."""
    return {"session": s._session_id, "authid": s._authid, "authrole": s._authrole,
            "authmethod": s._authmethod, "authprovider": s._authprovider}


def expect_session_details(details, s, what):
    expect(isinstance(details, dict), f"{what}: details is not a dict: {details!r}")
    expected = welcome_details(s)
    expect_eq({k: details.get(k) for k in expected}, expected, f"{what}: session, authid, authrole, authmethod, authprovider")
    expect_eq(s._authrole, "anonymous", f"{what}: authrole of an anonymous session")
    expect_eq(s._authmethod, "anonymous", f"{what}: authmethod of an anonymous session")


class Watch:
    """on_join / on_leave events at one session, as (topic, args)."""

    def __init__(self):
        self.queue = asyncio.Queue()

    async def subscribe(self, session):
        for t in ("on_join", "on_leave"):
            await session.subscribe(lambda *a, t=t: self.queue.put_nowait((t, list(a))), f"wamp.session.{t}")

    async def next(self, timeout=5.0):
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            raise h.Failure(f"no session meta event within {timeout:g}s") from None

    def expect_none(self, what):
        if not self.queue.empty():
            raise h.Failure(f"unexpected session meta event {what}: {self.queue.get_nowait()}")


async def gone(session, reason, message, what):
    """``session`` was closed by the router with GOODBYE ``reason`` (+ ``message``)."""
    try:
        details = await asyncio.wait_for(asyncio.shield(session.left), 5)
    except asyncio.TimeoutError:
        raise h.Failure(f"{what}: session not closed within 5s") from None
    expect_eq((details.reason, details.message), (reason, message), f"{what}: GOODBYE (reason, message)")
    await asyncio.wait_for(asyncio.shield(session.closed), 5)


async def count_list_get(args, realm):
    m = await h.join(args.url, realm, args.serializer, "meta caller")
    a = await h.join(args.url, realm, args.serializer, "A")
    b = await h.join(args.url, realm, args.serializer, "B")
    ids = sorted(s._session_id for s in (m, a, b))
    expect_eq(await m.call("wamp.session.count"), 3, "wamp.session.count()")
    expect_eq(sorted(await m.call("wamp.session.list")), ids, "wamp.session.list()")
    for roles, count in ((["anonymous"], 3), (["com.interop.other"], 0), (["com.interop.other", "anonymous"], 3)):
        expect_eq(await m.call("wamp.session.count", roles), count, f"wamp.session.count({roles})")
        expect_eq(sorted(await m.call("wamp.session.list", roles)), ids if count else [], f"wamp.session.list({roles})")
    for s, name in ((a, "A"), (m, "the caller")):
        expect_session_details(await m.call("wamp.session.get", s._session_id), s, f"wamp.session.get({name})")
    await h.expect_error(m.call("wamp.session.get", NO_SUCH_ID), "wamp.error.no_such_session", "wamp.session.get(unknown)")
    b_id = b._session_id
    await h.leave(b)
    expect_eq(await m.call("wamp.session.count"), 2, "wamp.session.count() after B left")
    expect_eq(sorted(await m.call("wamp.session.list")), sorted([m._session_id, a._session_id]), "list after B left")
    await h.expect_error(m.call("wamp.session.get", b_id), "wamp.error.no_such_session", "get(B) after B left")
    await h.leave(a, m)


async def join_leave(args, realm):
    m = await h.join(args.url, realm, args.serializer, "watcher")
    watch = Watch()
    await watch.subscribe(m)
    a = await h.join(args.url, realm, args.serializer, "A")
    topic, ev = await watch.next()
    expect_eq((topic, len(ev)), ("on_join", 1), "first meta event (topic, number of args)")
    expect_session_details(ev[0], a, "wamp.session.on_join")
    a_id, a_authid = a._session_id, a._authid
    await h.leave(a)
    topic, ev = await watch.next()
    expect_eq((topic, ev), ("on_leave", [a_id, a_authid, "anonymous"]), "wamp.session.on_leave (args)")
    # connection lost without GOODBYE: on_leave too
    b = await h.join(args.url, realm, args.serializer, "B")
    expect_eq((await watch.next())[0], "on_join", "meta event for B joining")
    b_id, b_authid = b._session_id, b._authid
    b._transport.transport.abort()
    expect_eq(await watch.next(), ("on_leave", [b_id, b_authid, "anonymous"]), "wamp.session.on_leave after connection loss")
    await h.leave(m)


async def kill(args, realm):
    m = await h.join(args.url, realm, args.serializer, "admin")
    watch = Watch()
    await watch.subscribe(m)
    testament = h.unique("com.interop.killed")
    wills = await h.subscribe(m, testament, "admin (testaments)")
    a = await h.join(args.url, realm, args.serializer, "A")
    b = await h.join(args.url, realm, args.serializer, "B")
    await a.call("wamp.session.add_testament", testament, ["A's testament"], {})
    for _ in range(2):
        await watch.next()  # on_join A, B

    a_id, a_authid = a._session_id, a._authid
    res = await m.call("wamp.session.kill", a_id, reason="com.interop.kicked", message="out you go")
    expect_eq(res, None, "result of wamp.session.kill")
    await gone(a, "com.interop.kicked", "out you go", "A killed with reason and message")
    expect_eq(await watch.next(), ("on_leave", [a_id, a_authid, "anonymous"]), "on_leave of the killed session")
    expect_eq((await wills.next())[0], ["A's testament"], "testament of the killed session")
    step("A killed with reason com.interop.kicked")

    await h.expect_error(m.call("wamp.session.kill", m._session_id), "wamp.error.no_such_session", "kill(own session)")
    await h.expect_error(m.call("wamp.session.kill", NO_SUCH_ID), "wamp.error.no_such_session", "kill(unknown session)")
    await h.expect_error(m.call("wamp.session.kill", b._session_id, reason="not a valid uri!"), "wamp.error.invalid_uri",
                         "kill(reason=<invalid URI>)")
    expect(b.is_attached(), "B still attached after a kill with an invalid reason")
    await m.call("wamp.session.kill", b._session_id)
    await gone(b, "wamp.close.killed", None, "B killed without reason")
    expect(m.is_attached(), "the admin is still attached")
    expect_eq(await m.call("wamp.session.count"), 1, "sessions left")
    await h.leave(m)


async def kill_by(args, realm, by):
    m = await h.join(args.url, realm, args.serializer, "admin")
    a = await h.join(args.url, realm, args.serializer, "A")
    b = await h.join(args.url, realm, args.serializer, "B")
    a_id = a._session_id  # Autobahn forgets it once the session is closed
    if by == "authid":
        res = await m.call("wamp.session.kill_by_authid", a._authid, reason="com.interop.by_authid", message="authid")
        expect_eq(res, [a_id], "result of kill_by_authid (killed session ids)")
        await gone(a, "com.interop.by_authid", "authid", "A killed by authid")
        expect(b.is_attached(), "B (another authid) still attached")
        expect_eq(await m.call("wamp.session.kill_by_authid", "com.interop.nobody"), [], "kill_by_authid(unknown authid)")
        expect_eq(await m.call("wamp.session.kill_by_authid", m._authid), [], "kill_by_authid(the caller's own authid)")
        expect(m.is_attached(), "the caller survives kill_by_authid of its own authid")
        expect_eq(sorted(await m.call("wamp.session.list")), sorted([m._session_id, b._session_id]), "sessions left")
        await h.leave(b)
    else:
        expect_eq(await m.call("wamp.session.kill_by_authrole", "com.interop.other"), 0, "kill_by_authrole(other role)")
        res = await m.call("wamp.session.kill_by_authrole", "anonymous", reason="com.interop.by_authrole")
        expect_eq(res, 2, "result of kill_by_authrole (number killed)")
        await gone(a, "com.interop.by_authrole", None, "A killed by authrole")
        await gone(b, "com.interop.by_authrole", None, "B killed by authrole")
        expect(m.is_attached(), "the caller (authrole anonymous too) is not killed")
        expect_eq(await m.call("wamp.session.list"), [m._session_id], "sessions left")
    await h.leave(m)


async def kill_all(args, realm):
    m = await h.join(args.url, realm, args.serializer, "admin")
    watch = Watch()
    await watch.subscribe(m)
    testament = h.unique("com.interop.killed")
    wills = await h.subscribe(m, testament, "admin (testaments)")
    victims = [await h.join(args.url, realm, args.serializer, name) for name in ("A", "B", "C")]
    for v in victims:
        await v.call("wamp.session.add_testament", testament, [f"testament {v._session_id}"], {})
    for _ in victims:
        expect_eq((await watch.next())[0], "on_join", "meta event")
    res = await m.call("wamp.session.kill_all", reason="com.interop.all", message="everybody out")
    expect_eq(res, 3, "result of kill_all (number killed)")
    for v in victims:
        await gone(v, "com.interop.all", "everybody out", "victim of kill_all")
    expect(m.is_attached(), "the caller of kill_all is not killed")
    # fence: a session that leaves normally afterwards; its on_leave and testament must be
    # the first ones the admin sees
    d = await h.join(args.url, realm, args.serializer, "D")
    await d.call("wamp.session.add_testament", testament, ["testament D"], {})
    d_id, d_authid = d._session_id, d._authid
    await h.leave(d)
    expect_eq((await wills.next())[0], ["testament D"], "first testament after kill_all")
    expect_eq((await watch.next())[0], "on_join", "meta event for D joining")
    expect_eq(await watch.next(), ("on_leave", [d_id, d_authid, "anonymous"]),
              "first on_leave after kill_all (kill_all must not publish any)")
    wills.expect_none("(testament) after D's")
    expect_eq(await m.call("wamp.session.count"), 1, "sessions left")
    await h.leave(m)


async def main(args):
    realm = h.unique(args.realm)
    case = args.case
    if case.startswith("kill_by_"):
        await kill_by(args, realm, case[len("kill_by_"):])
    else:
        await globals()[case](args, realm)
    step(f"{case} ok")


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
