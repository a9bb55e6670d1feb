#!/usr/bin/env python3
"""Router-generated RPC errors: wamp.error.no_such_procedure and
wamp.error.procedure_already_exists (both URIs are mandated by the WAMP spec).

    python rpc_wamp_errors.py no_such_procedure --url ws://127.0.0.1:8080/ws
    python rpc_wamp_errors.py procedure_already_exists --url ws://127.0.0.1:8080/ws
"""

import _harness as h
from _harness import expect_eq, step

CASES = ("no_such_procedure", "procedure_already_exists")


def options(parser):
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


async def no_such_procedure(args):
    from autobahn.wamp.exception import ApplicationError

    caller = await h.join(args.url, args.realm, args.serializer, "caller")
    proc = h.unique("com.interop.nobody.registered.this")
    try:
        res = await caller.call(proc, 1, 2, x=3)
    except ApplicationError as e:
        step(f"caller got ERROR {e.error} args={list(e.args)} kwargs={e.kwargs}")
        expect_eq(e.error, "wamp.error.no_such_procedure", f"ERROR uri for calling unregistered {proc}")
    else:
        raise h.Failure(f"calling unregistered {proc} returned {res!r}")

    # ... and after a registration came and went, it is unknown again
    callee = await h.join(args.url, args.realm, args.serializer, "callee")
    reg = await callee.register(lambda: "here", proc)
    expect_eq(await caller.call(proc), "here", f"call of {proc} while registered")
    await reg.unregister()
    step(f"unregistered {proc}")
    try:
        res = await caller.call(proc)
    except ApplicationError as e:
        expect_eq(e.error, "wamp.error.no_such_procedure", f"ERROR uri for calling unregistered {proc}")
    else:
        raise h.Failure(f"calling {proc} after UNREGISTER returned {res!r}")
    await h.leave(caller, callee)


async def procedure_already_exists(args):
    from autobahn.wamp.exception import ApplicationError

    proc = h.unique("com.interop.registered.twice")
    first = await h.join(args.url, args.realm, args.serializer, "first callee")
    second = await h.join(args.url, args.realm, args.serializer, "second callee")
    caller = await h.join(args.url, args.realm, args.serializer, "caller")

    await first.register(lambda: "first", proc)
    step(f"first callee registered {proc}")

    for who, session in (("second callee", second), ("first callee again", first)):
        try:
            reg = await session.register(lambda: "second", proc)
        except ApplicationError as e:
            step(f"{who} got ERROR {e.error}")
            expect_eq(e.error, "wamp.error.procedure_already_exists", f"ERROR uri for {who} registering {proc}")
        else:
            raise h.Failure(f"{who} could register already registered {proc} (registration {reg.id})")

    # the original registration is untouched
    expect_eq(await caller.call(proc), "first", f"call of {proc}")

    # once the owner leaves, the URI is free again (sessions' registrations die with them)
    await h.leave(first)
    step("first callee left")
    await second.register(lambda: "second", proc)
    expect_eq(await caller.call(proc), "second", f"call of {proc} after re-registration")
    await h.leave(caller, second)


async def main(args):
    await {"no_such_procedure": no_such_procedure, "procedure_already_exists": procedure_already_exists}[args.case](args)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
