#!/usr/bin/env python3
"""Pattern-based registration (wamp-spec §5.7): exact, prefix and wildcard registrations of
Autobahn callees, the precedence exact > longest prefix > best wildcard, and
INVOCATION.Details.procedure = the URI actually called (CallDetails.procedure).

    python rpc_pattern_registration.py precedence|wildcard_ties --url ws://127.0.0.1:8080/ws

precedence:    exact beats prefix beats wildcard; the longest prefix wins (prefix matching is
               by string, as in the spec's ``com.myapp.myobject1-mysubobject1`` example);
               a URI and the same URI as a prefix are different registrations; when the
               exact registration goes, the prefix takes over; no match: no_such_procedure.
wildcard_ties: among wildcards, the one with the longer run of concrete components, compared
               left to right, wins (the spec's two examples); a wildcard matches whole
               components only and needs the same number of components.
"""

import _harness as h
from _harness import expect, expect_eq, step


def options(parser):
    parser.add_argument("case", choices=("precedence", "wildcard_ties"))
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


async def register_all(callee, registrations):
    """``registrations``: {name: (uri, match)}; each handler returns [name, details.procedure]."""
    from autobahn.wamp.types import RegisterOptions

    regs = {}
    for name, (uri, match) in registrations.items():
        def handler(*args, details=None, name=name):
            return [name, details.procedure]

        regs[name] = await callee.register(handler, uri, options=RegisterOptions(match=match, details_arg="details"))
        step(f"registered {name}: {uri!r} match={match}")
    ids = [r.id for r in regs.values()]
    expect_eq(len(set(ids)), len(ids), "registration ids are distinct")
    return regs


async def expect_routes(caller, routes):
    for uri, name in routes:
        if name is None:
            await h.expect_error(caller.call(uri), "wamp.error.no_such_procedure", f"call of {uri!r}")
        else:
            expect_eq(await caller.call(uri), [name, uri], f"call of {uri!r}: [registration that got it, details.procedure]")
    step(f"{len(routes)} calls routed as expected")


async def precedence(callee, caller):
    b = h.unique("com.interop.pattern")
    regs = await register_all(callee, {
        "exact a.b.c": (f"{b}.a.b.c", "exact"),
        "prefix a.b.c": (f"{b}.a.b.c", "prefix"),
        "prefix a.b": (f"{b}.a.b", "prefix"),
        "prefix a": (f"{b}.a", "prefix"),
        "wildcard a..c": (f"{b}.a..c", "wildcard"),
        "wildcard .b.c": (f"{b}..b.c", "wildcard"),
    })
    await expect_routes(caller, [
        (f"{b}.a.b.c", "exact a.b.c"),            # exact beats everything
        (f"{b}.a.b.c.d", "prefix a.b.c"),         # longest prefix
        (f"{b}.a.b.x", "prefix a.b"),
        (f"{b}.a.b-extra", "prefix a.b"),         # string prefix (spec: myobject1 / myobject1-mysubobject1)
        (f"{b}.a.b", "prefix a.b"),               # a prefix matches its own URI
        (f"{b}.a.x.c", "prefix a"),               # prefix beats a matching wildcard
        (f"{b}.a", "prefix a"),
        (f"{b}.x.b.c", "wildcard .b.c"),          # only a wildcard matches
        (f"{b}.x.b.c.d", None),                   # wildcards need the same component count
        (f"{b}.x", None),
    ])
    # without the exact registration, the same URI goes to the longest prefix
    await regs["exact a.b.c"].unregister()
    await expect_routes(caller, [(f"{b}.a.b.c", "prefix a.b.c")])
    await regs["prefix a.b.c"].unregister()
    await expect_routes(caller, [(f"{b}.a.b.c", "prefix a.b"), (f"{b}.a.b.c.d", "prefix a.b")])
    # without any prefix, the wildcards decide
    await regs["prefix a.b"].unregister()
    await regs["prefix a"].unregister()
    await expect_routes(caller, [(f"{b}.a.x.c", "wildcard a..c"), (f"{b}.a.b.x", None)])


async def wildcard_ties(callee, caller):
    b = h.unique("com.interop.pattern")
    await register_all(callee, {
        # spec example 1, call a1.b2.c33.d4.e5: runs (3,1) beat (2,2)
        "a1.b2.c33..e5": (f"{b}.a1.b2.c33..e5", "wildcard"),
        "a1.b2..d4.e5": (f"{b}.a1.b2..d4.e5", "wildcard"),
        # spec example 2, call a1.b2.c88.d4.e5.f6.g7: runs (2,2,1) beat (2,1,2)
        "a1.b2..d4.e5..g7": (f"{b}.a1.b2..d4.e5..g7", "wildcard"),
        "a1.b2..d4..f6.g7": (f"{b}.a1.b2..d4..f6.g7", "wildcard"),
        "..x": (f"{b}...x", "wildcard"),
    })
    await expect_routes(caller, [
        (f"{b}.a1.b2.c33.d4.e5", "a1.b2.c33..e5"),
        (f"{b}.a1.b2.c99.d4.e5", "a1.b2..d4.e5"),        # only the second one matches
        (f"{b}.a1.b2.c88.d4.e5.f6.g7", "a1.b2..d4.e5..g7"),
        (f"{b}.a1.b2.c88.d4.zz.f6.g7", "a1.b2..d4..f6.g7"),
        (f"{b}.p.q.x", "..x"),
        (f"{b}.p.q.r.x", None),                            # one component per wildcard
        (f"{b}.p.q.xy", None),                             # whole components only
    ])


async def main(args):
    callee = await h.join(args.url, args.realm, args.serializer, "callee")
    caller = await h.join(args.url, args.realm, args.serializer, "caller")
    await {"precedence": precedence, "wildcard_ties": wildcard_ties}[args.case](callee, caller)
    expect(callee.is_attached(), "callee attached")
    await h.leave(caller, callee)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
