#!/usr/bin/env python3
"""Dynamic authentication: an Autobahn|Python component on the open realm `auth` registers
the authenticator procedure; Autobahn|Python ticket clients log in to the locked realm
(`test_dynamic_auth.py`'s ROUTER_CONFIG: `[realm.auth.dynamic]` for ticket on `--realm`).

login      joe/secret-joe logs in: WELCOME says authrole user, authprovider dynamic, and
           the authid the procedure returned
refused    a wrong ticket: the procedure raises, the router ABORTs with
           wamp.error.authentication_failed, without the ticket in the message

    python dynamic_auth.py login --url ws://127.0.0.1:8080/ws
"""

import asyncio

import _harness as h
from _harness import expect, expect_eq, step
from auth import Refused, login

PROCEDURE = "com.example.authenticate"


async def start_authenticator(args):
    from autobahn.wamp.exception import ApplicationError

    seen = []

    def authenticate(realm, authid, details):
        seen.append((realm, authid, details.get("authmethod")))
        if authid == "joe" and details.get("ticket") == "secret-joe":
            return {"role": "user", "authid": "joe@example.com", "extra": {"tier": "gold"}}
        raise ApplicationError("com.example.invalid_ticket", "wrong ticket")

    backend = await h.join(args.url, args.auth_realm, name="authenticator")
    await backend.register(authenticate, PROCEDURE)
    step(f"authenticator registered on realm {args.auth_realm}")
    return backend, seen


async def main(args):
    backend, seen = await start_authenticator(args)
    if args.case == "login":
        session, details = await login(args.url, args.realm, "ticket",
                                       {"authid": "joe", "ticket": "secret-joe"}, args.serializer)
        expect_eq(details.authid, "joe@example.com", "WELCOME authid")
        expect_eq(details.authrole, "user", "WELCOME authrole")
        expect_eq(details.authmethod, "ticket", "WELCOME authmethod")
        expect_eq(details.authprovider, "dynamic", "WELCOME authprovider")
        expect_eq(seen, [(args.realm, "joe", "ticket")], "authenticator calls (realm, authid, authmethod)")
        echo = h.unique("com.example.echo")
        await session.register(lambda x: x, echo)
        expect_eq(await asyncio.wait_for(session.call(echo, 5), 10), 5, "role user calling")
        step("role user may register and call")
        await h.leave(session)
    else:
        try:
            session, details = await login(args.url, args.realm, "ticket",
                                           {"authid": "joe", "ticket": "secret-wrong"}, args.serializer)
        except Refused as e:
            step(f"login refused: {e.reason} ({e.message})")
            expect_eq(e.reason, "wamp.error.authentication_failed", "ABORT reason")
            expect("secret-wrong" not in (e.message or ""), f"the ABORT message reveals the ticket: {e.message!r}")
            expect_eq(len(seen), 1, "authenticator calls")
        else:
            await h.leave(session)
            raise h.Failure(f"login with a wrong ticket succeeded as {details.authid}/{details.authrole}")
    await h.leave(backend)


def options(parser):
    parser.add_argument("case", choices=("login", "refused"))
    parser.add_argument("--auth-realm", default="auth")
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
