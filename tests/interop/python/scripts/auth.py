#!/usr/bin/env python3
"""Authentication and authorization against a router configured like examples/auth.toml,
with Autobahn|Python's own authenticators (autobahn.wamp.auth: AuthTicket, AuthWampCra,
AuthScram, AuthCryptoSign).

login METHOD     log in with METHOD (anonymous, ticket, wampcra, wampcra-salted, scram,
                 cryptosign); WELCOME and the session meta API must report the principal
refused CASE     a failing login (wrong-ticket, unknown-ticket, wrong-wampcra,
                 wrong-wampcra-salted, wrong-scram, unknown-scram, wrong-cryptosign);
                 the router must ABORT with wamp.error.authentication_failed
authorize        role `user` may do everything; role `anonymous` may only call and subscribe
                 under `public.`, everything else gets wamp.error.not_authorized

    python auth.py login scram --url ws://127.0.0.1:8080/ws
"""

import asyncio

import _harness as h
from _harness import expect, expect_eq, step

# The principals of examples/auth.toml.
CREDENTIALS = {
    "anonymous": ("anonymous", {}),
    "ticket": ("ticket", {"authid": "ticket-user", "ticket": "ticket-pass"}),
    "wampcra": ("wampcra", {"authid": "wamp-cra-user", "secret": "cra-secret"}),
    "wampcra-salted": ("wampcra", {"authid": "wamp-cra-salt-user", "secret": "cra-salt-secret"}),
    "scram": ("scram", {"authid": "scram-user", "password": "scram-pass"}),
    "cryptosign": (
        "cryptosign",
        {"authid": "cryptosign-user", "privkey": "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510"},
    ),
}

# What WELCOME must say: (authid or None for "the session id", authrole, authmethod).
EXPECTED = {
    "anonymous": (None, "anonymous", "anonymous"),
    "ticket": ("ticket-user", "user", "ticket"),
    "wampcra": ("wamp-cra-user", "user", "wampcra"),
    "wampcra-salted": ("wamp-cra-salt-user", "user", "wampcra"),
    "scram": ("scram-user", "user", "scram"),
    "cryptosign": ("cryptosign-user", "user", "cryptosign"),
}

REFUSED = {
    "wrong-ticket": ("ticket", {"authid": "ticket-user", "ticket": "ticket-pass-wrong"}),
    "unknown-ticket": ("ticket", {"authid": "nobody", "ticket": "ticket-pass"}),
    "wrong-wampcra": ("wampcra", {"authid": "wamp-cra-user", "secret": "cra-secret-wrong"}),
    "wrong-wampcra-salted": ("wampcra", {"authid": "wamp-cra-salt-user", "secret": "cra-secret"}),
    "wrong-scram": ("scram", {"authid": "scram-user", "password": "scram-pass-wrong"}),
    "unknown-scram": ("scram", {"authid": "nobody", "password": "scram-pass"}),
    "wrong-cryptosign": (
        "cryptosign",
        {"authid": "cryptosign-user", "privkey": "11" * 32},
    ),
}

NOT_AUTHORIZED = "wamp.error.not_authorized"


class Refused(Exception):
    def __init__(self, reason, message):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


async def login(url, realm, method, kwargs, serializer="json", name="session", timeout=15.0):
    """Connect with Autobahn's authenticator for ``method``; return (session, SessionDetails)
    or raise Refused with the ABORT reason."""
    # autobahn.asyncio.wamp.Session (not the bare ApplicationSession) is the class that runs
    # Autobahn's authenticators: HELLO authmethods/authid/authextra, CHALLENGE, and the
    # WELCOME check (AuthScram verifies the router's scram_server_signature there).
    from autobahn.asyncio.wamp import ApplicationRunner, Session as AutobahnSession
    from autobahn.wamp.auth import create_authenticator

    loop = asyncio.get_running_loop()
    joined = loop.create_future()
    closed = loop.create_future()

    class Session(AutobahnSession):
        def on_join(self, details):
            if not joined.done():
                joined.set_result(details)

        def on_leave(self, details):
            if not joined.done():
                joined.set_exception(Refused(details.reason, details.message))
            return super().on_leave(details)

        def on_disconnect(self):
            if not closed.done():
                closed.set_result(None)
            if not joined.done():
                joined.set_exception(h.Failure(f"{name}: transport closed before WELCOME or ABORT"))
            return super().on_disconnect()

    holder = {}

    def make(config):
        session = Session(config)
        session.add_authenticator(create_authenticator(method, **dict(kwargs)))
        holder["session"] = session
        return session

    runner = ApplicationRunner(url, realm, serializers=[h._serializer(serializer)])
    try:
        await asyncio.wait_for(runner.run(make, start_loop=False), timeout)
    except (OSError, asyncio.TimeoutError) as e:
        raise h.Failure(f"{name}: cannot connect to {url}: {e!r}") from None
    try:
        details = await asyncio.wait_for(asyncio.shield(joined), timeout)
    except asyncio.TimeoutError:
        raise h.Failure(f"{name}: neither WELCOME nor ABORT within {timeout:g}s") from None
    session = holder["session"]
    session.closed = closed
    step(f"{name} joined as authid={details.authid} authrole={details.authrole} authmethod={details.authmethod}")
    return session, details


async def expect_denied(what, coro):
    from autobahn.wamp.exception import ApplicationError

    try:
        await asyncio.wait_for(coro, 10)
    except ApplicationError as e:
        expect_eq(e.error, NOT_AUTHORIZED, f"error of {what}")
        step(f"{what}: {e.error}")
        return
    raise h.Failure(f"{what} was allowed; expected {NOT_AUTHORIZED}")


async def case_login(args):
    method, kwargs = CREDENTIALS[args.case_arg]
    session, details = await login(args.url if args.transport == "websocket" else args.rs_url,
                                   args.realm, method, kwargs, args.serializer)
    authid, authrole, authmethod = EXPECTED[args.case_arg]
    expect_eq(details.authid, authid if authid is not None else str(details.session), "WELCOME authid")
    expect_eq(details.authrole, authrole, "WELCOME authrole")
    expect_eq(details.authmethod, authmethod, "WELCOME authmethod")
    expect_eq(details.authprovider, "static", "WELCOME authprovider")
    if authrole == "user":
        # The session meta API shows the same principal.
        meta = await asyncio.wait_for(session.call("wamp.session.get", details.session), 10)
        for key, value in (("authid", details.authid), ("authrole", authrole),
                           ("authmethod", authmethod), ("authprovider", "static")):
            expect_eq(meta.get(key), value, f"wamp.session.get {key}")
        step("wamp.session.get reports the same principal")
    else:
        await expect_denied("anonymous calling wamp.session.get",
                            session.call("wamp.session.get", details.session))
    await h.leave(session)


async def case_refused(args):
    method, kwargs = REFUSED[args.case_arg]
    try:
        session, details = await login(args.url, args.realm, method, kwargs, args.serializer)
    except Refused as e:
        step(f"login refused: {e.reason} ({e.message})")
        expect_eq(e.reason, "wamp.error.authentication_failed", "ABORT reason")
        for secret in ("ticket-pass", "cra-secret", "cra-salt-secret", "scram-pass"):
            expect(secret not in (e.message or ""), f"the ABORT message reveals a secret: {e.message!r}")
        return
    await h.leave(session)
    raise h.Failure(f"login {args.case_arg} succeeded as {details.authid}/{details.authrole}; expected ABORT")


async def case_authorize(args):
    from autobahn.wamp.types import PublishOptions

    user, _ = await login(args.url, args.realm, "ticket", CREDENTIALS["ticket"][1], "json", "user")
    anon, _ = await login(args.url, args.realm, "anonymous", {}, args.serializer, "anonymous")
    public_proc = h.unique("public.echo")
    private_proc = h.unique("private.echo")
    public_topic = h.unique("public.news")

    # role user: register, subscribe, publish, call (everything)
    await user.register(lambda x: x, public_proc)
    await user.register(lambda x: x, private_proc)
    expect_eq(await user.call(private_proc, 7), 7, "user calling a private procedure")
    await user.subscribe(lambda *a: None, h.unique("private.topic"))
    await user.publish(h.unique("private.topic"), 1, options=PublishOptions(acknowledge=True))
    step("user may register, call, subscribe and publish anywhere")

    # role anonymous: call and subscribe under public. only
    expect_eq(await asyncio.wait_for(anon.call(public_proc, "hi"), 10), "hi", "anonymous calling public.")
    received = asyncio.get_running_loop().create_future()
    await anon.subscribe(lambda v: received.done() or received.set_result(v), public_topic)
    await user.publish(public_topic, "news", options=PublishOptions(acknowledge=True))
    expect_eq(await asyncio.wait_for(received, 10), "news", "event received by anonymous")
    step("anonymous may call and subscribe under public.")

    await expect_denied("anonymous calling a private procedure", anon.call(private_proc, 1))
    await expect_denied("anonymous calling a meta procedure", anon.call("wamp.session.count"))
    await expect_denied("anonymous subscribing outside public.", anon.subscribe(lambda *a: None, "private.news"))
    await expect_denied("anonymous registering under public.", anon.register(lambda: None, h.unique("public.mine")))
    await expect_denied("anonymous publishing (acknowledged) under public.",
                        anon.publish(public_topic, 1, options=PublishOptions(acknowledge=True)))
    # An unacknowledged PUBLISH that is denied gets no answer at all; the session stays fine.
    anon.publish(public_topic, 2)
    expect_eq(await asyncio.wait_for(anon.call(public_proc, "still"), 10), "still", "anonymous after a denied publish")
    await h.leave(user, anon)


def options(parser):
    parser.add_argument("case", choices=("login", "refused", "authorize"))
    parser.add_argument("case_arg", nargs="?", default="")
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)
    parser.add_argument("--transport", default="websocket", choices=("websocket", "rawsocket"))


async def main(args):
    if args.case == "login":
        expect(args.case_arg in CREDENTIALS, f"login needs one of {', '.join(CREDENTIALS)}")
        await case_login(args)
    elif args.case == "refused":
        expect(args.case_arg in REFUSED, f"refused needs one of {', '.join(REFUSED)}")
        await case_refused(args)
    else:
        await case_authorize(args)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
