#!/usr/bin/env python3
"""Subscription meta API (wamp-spec §6.3, §5.15) called and watched by Autobahn|Python sessions.

Runs in a realm of its own (``<--realm>.<random>``, created on first use), so the lists
it reads hold exactly its own subscriptions (and the meta subscriptions of the watcher,
which are told apart by topic).

    python pubsub_subscription_meta.py procedures|events|remove_subscriber|remove_subscriber_silently --url ...

procedures:        wamp.subscription.list, lookup (with match options), match (all matching
                   subscriptions), get (SubscriptionDetails), list_subscribers,
                   count_subscribers, and wamp.error.no_such_subscription.
events:            on_create [session, SubscriptionDetails], on_subscribe, on_unsubscribe,
                   on_delete [session, subscription], in that order, for a subscription two
                   sessions share, one unsubscribing and the other leaving.
remove_subscriber: wamp.subscription.remove_subscriber(subscription, subscriber, reason)
                   revokes one subscriber: it gets UNSUBSCRIBED [35, 0, {subscription, reason}]
                   and no further events; on_unsubscribe fires; removing the last one deletes
                   the subscription (on_delete).
remove_subscriber_silently: the same for subscribers that do not announce
                   subscription_revocation: removed, but no UNSUBSCRIBED (spec MUST NOT); such
                   Autobahn sessions need no workaround.

Autobahn 26.10.2 announces subscription_revocation but raises ProtocolError (and drops
the connection) on UNSUBSCRIBED with request 0 (ApplicationSession.onMessage only knows
UNSUBSCRIBED for its own requests). The revoked subscriber here therefore records that
message and does not hand it to Autobahn.
"""

import asyncio
import re

import _harness as h
from _harness import expect, expect_eq, step

ISO8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
TOPICS = ("on_create", "on_subscribe", "on_unsubscribe", "on_delete")
NO_SUCH_ID = 1


def options(parser):
    parser.add_argument("case", choices=("procedures", "events", "remove_subscriber", "remove_subscriber_silently"))
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


def expect_details(details, sub_id, uri, match, what):
    expect(isinstance(details, dict), f"{what}: SubscriptionDetails is not a dict: {details!r}")
    created = details.get("created")
    expect(isinstance(created, str) and ISO8601.match(created), f"{what}: created is no ISO 8601 timestamp: {created!r}")
    rest = {k: v for k, v in details.items() if k != "created"}
    expect_eq(rest, {"id": sub_id, "uri": uri, "match": match}, f"{what}: SubscriptionDetails")


class MetaLog:
    """The four wamp.subscription.on_* events, in arrival order, as (topic, args)."""

    def __init__(self):
        self.queue = asyncio.Queue()

    async def subscribe(self, session):
        for t in TOPICS:
            await session.subscribe(lambda *a, t=t: self.queue.put_nowait((t, list(a))), f"wamp.subscription.{t}")

    async def until(self, topic, sub_id, timeout=5.0):
        got = []
        while True:
            try:
                t, a = await asyncio.wait_for(self.queue.get(), timeout)
            except asyncio.TimeoutError:
                raise h.Failure(f"no wamp.subscription.{topic} for {sub_id} within {timeout:g}s; got {got}") from None
            expect(len(a) >= 2, f"wamp.subscription.{t} with fewer than 2 args: {a!r}")
            got.append((t, a))
            if t == topic and a[1] == sub_id:
                return got


def about(events, sub_id):
    out = []
    for t, a in events:
        concerned = (isinstance(a[1], dict) and a[1].get("id") == sub_id) if t == "on_create" else a[1] == sub_id
        if concerned:
            expect_eq(len(a), 2, f"wamp.subscription.{t} args length")
            out.append((t, a[0], sub_id))
    return out


async def procedures(args, realm):
    a = await h.join(args.url, realm, args.serializer, "subscriber A")
    b = await h.join(args.url, realm, args.serializer, "subscriber B")
    m = await h.join(args.url, realm, args.serializer, "meta caller")
    base = h.unique("com.interop.submeta")
    T, P, P2, W = f"{base}.q.r", f"{base}.q", base, f"{base}..r"
    subs = {
        "T": await h.subscribe(a, T, "A: T"),
        "P": await h.subscribe(a, P, "A: P", match="prefix"),
        "P2": await h.subscribe(a, P2, "A: P2", match="prefix"),
        "W": await h.subscribe(a, W, "A: W", match="wildcard"),
    }
    s = {k: v.subscription.id for k, v in subs.items()}
    expect_eq(len(set(s.values())), 4, "ids of 4 different subscriptions")
    expect_eq((await h.subscribe(b, T, "B: T")).subscription.id, s["T"], "subscription id of a second subscriber to T")
    step(f"subscribed {s}")

    listed = await m.call("wamp.subscription.list")
    expect(isinstance(listed, dict), f"wamp.subscription.list: expected a dict, got {listed!r}")
    expect_eq({k: sorted(v) for k, v in listed.items()},
              {"exact": [s["T"]], "prefix": sorted([s["P"], s["P2"]]), "wildcard": [s["W"]]},
              "wamp.subscription.list")

    for uri, opts, expected in [
        (T, None, s["T"]), (P, None, None), (P, {"match": "prefix"}, s["P"]), (P2, {"match": "prefix"}, s["P2"]),
        (W, {"match": "wildcard"}, s["W"]), (T, {"match": "prefix"}, None), (f"{base}.nothing", None, None),
    ]:
        got = await (m.call("wamp.subscription.lookup", uri) if opts is None else m.call("wamp.subscription.lookup", uri, opts))
        expect_eq(got, expected, f"wamp.subscription.lookup({uri!r}, {opts})")

    for uri, expected in [
        (T, [s["T"], s["P"], s["P2"], s["W"]]),   # every matching subscription, any policy
        (f"{base}.z.r", [s["P2"], s["W"]]),
        (f"{base}.q.x.y", [s["P"], s["P2"]]),
    ]:
        got = await m.call("wamp.subscription.match", uri)
        expect(isinstance(got, list), f"wamp.subscription.match({uri!r}): expected a list, got {got!r}")
        expect_eq(sorted(got), sorted(expected), f"wamp.subscription.match({uri!r})")
    expect_eq(await m.call("wamp.subscription.match", f"{base[:-1]}.x"), None, "wamp.subscription.match(no match)")
    step("list, lookup and match ok")

    expect_details(await m.call("wamp.subscription.get", s["T"]), s["T"], T, "exact", "get(T)")
    expect_details(await m.call("wamp.subscription.get", s["P"]), s["P"], P, "prefix", "get(P)")
    expect_details(await m.call("wamp.subscription.get", s["W"]), s["W"], W, "wildcard", "get(W)")
    expect_eq(sorted(await m.call("wamp.subscription.list_subscribers", s["T"])), sorted([a._session_id, b._session_id]),
              "list_subscribers(T)")
    expect_eq(await m.call("wamp.subscription.list_subscribers", s["W"]), [a._session_id], "list_subscribers(W)")
    expect_eq(await m.call("wamp.subscription.count_subscribers", s["T"]), 2, "count_subscribers(T)")
    expect_eq(await m.call("wamp.subscription.count_subscribers", s["P"]), 1, "count_subscribers(P)")
    for proc in ("get", "list_subscribers", "count_subscribers"):
        await h.expect_error(m.call(f"wamp.subscription.{proc}", NO_SUCH_ID), "wamp.error.no_such_subscription",
                             f"wamp.subscription.{proc}(unknown id)")
    step("get, list_subscribers, count_subscribers ok")

    await h.leave(b)
    await subs["W"].subscription.unsubscribe()
    expect_eq(await m.call("wamp.subscription.list_subscribers", s["T"]), [a._session_id], "list_subscribers(T) after B left")
    expect_eq(await m.call("wamp.subscription.count_subscribers", s["T"]), 1, "count_subscribers(T) after B left")
    await h.expect_error(m.call("wamp.subscription.get", s["W"]), "wamp.error.no_such_subscription", "get(W) after unsubscribe")
    expect_eq(await m.call("wamp.subscription.lookup", W, {"match": "wildcard"}), None, "lookup(W) after unsubscribe")
    await h.leave(a, m)


async def events(args, realm):
    m = await h.join(args.url, realm, args.serializer, "meta subscriber")
    log = MetaLog()
    await log.subscribe(m)
    a = await h.join(args.url, realm, args.serializer, "subscriber A")
    b = await h.join(args.url, realm, args.serializer, "subscriber B")
    T = h.unique("com.interop.submeta.shared")
    A, B = a._session_id, b._session_id

    sa = await h.subscribe(a, T, "A", match="prefix")
    sid = sa.subscription.id
    got = await log.until("on_subscribe", sid)
    create = [x for t, x in got if t == "on_create" and isinstance(x[1], dict) and x[1].get("id") == sid]
    expect_eq(len(create), 1, "on_create events")
    expect_eq(create[0][0], A, "on_create session")
    expect_details(create[0][1], sid, T, "prefix", "on_create details")
    sb = await h.subscribe(b, T, "B", match="prefix")
    expect_eq(sb.subscription.id, sid, "shared subscription id")
    got += await log.until("on_subscribe", sid)
    await sb.subscription.unsubscribe()
    got += await log.until("on_unsubscribe", sid)
    await h.leave(a)
    got += await log.until("on_delete", sid)
    expect_eq(about(got, sid), [
        ("on_create", A, sid), ("on_subscribe", A, sid), ("on_subscribe", B, sid),
        ("on_unsubscribe", B, sid), ("on_unsubscribe", A, sid), ("on_delete", A, sid),
    ], "subscription meta events (topic, session, subscription) in order")
    step("shared subscription: create, subscribe x2, unsubscribe x2, delete")

    U = h.unique("com.interop.submeta.single")
    su = await h.subscribe(b, U, "B: U")
    uid = su.subscription.id
    await su.subscription.unsubscribe()
    got = await log.until("on_delete", uid)
    expect_eq(about(got, uid), [("on_create", B, uid), ("on_subscribe", B, uid), ("on_unsubscribe", B, uid),
                                ("on_delete", B, uid)], "meta events of a subscription its subscriber unsubscribed")
    expect_eq(about(got, sid), [], "further meta events about the deleted shared subscription")
    await h.leave(b, m)


async def remove_subscriber(args, realm, silently=False):
    from autobahn.wamp import message
    from autobahn.wamp.types import PublishOptions

    m = await h.join(args.url, realm, args.serializer, "admin")
    log = MetaLog()
    await log.subscribe(m)
    without = {"subscriber": ["subscription_revocation"]} if silently else None
    a = await h.join(args.url, realm, args.serializer, "subscriber A", without_features=without)
    b = await h.join(args.url, realm, args.serializer, "subscriber B", without_features=without)
    revoked = {a._session_id: [], b._session_id: []}

    def catch_revocations(session, seen):
        handle = session.onMessage

        def on_message(msg):  # see the module docstring: keep Autobahn from choking on it
            if isinstance(msg, message.Unsubscribed) and msg.request == 0:
                seen.append((msg.request, msg.subscription, msg.reason))
                return None
            return handle(msg)

        session.onMessage = on_message

    for session in (a, b):
        if not silently:
            catch_revocations(session, revoked[session._session_id])
        else:  # just watch: Autobahn must not see any UNSUBSCRIBED [35, 0, ...] here
            incoming = h.record_incoming(session)
            revoked[session._session_id] = incoming
    revocations = revoked[b._session_id]
    T = h.unique("com.interop.submeta.revoke")
    fence_topic = h.unique("com.interop.submeta.fence")
    ea = await h.subscribe(a, T, "A")
    eb = await h.subscribe(b, T, "B")
    fence_b = await h.subscribe(b, fence_topic, "B (fence)")
    sid = ea.subscription.id
    await log.until("on_subscribe", sid)
    await log.until("on_subscribe", sid)

    res = await m.call("wamp.subscription.remove_subscriber", sid, b._session_id, "com.interop.removed")
    expect_eq(res, None, "result of wamp.subscription.remove_subscriber")
    got = await log.until("on_unsubscribe", sid)
    expect_eq(about(got, sid), [("on_unsubscribe", b._session_id, sid)], "meta events after removing subscriber B")
    if silently:
        await b.call("wamp.session.count")  # round trip: an UNSUBSCRIBED to B would have come first
        expect_eq([x for x in revocations if isinstance(x, message.Unsubscribed)], [], "UNSUBSCRIBED at B")
    else:
        await h.wait_until(lambda: revocations, "UNSUBSCRIBED at subscriber B")
        expect_eq(revocations, [(0, sid, "com.interop.removed")], "UNSUBSCRIBED (request, subscription, reason) at B")
    expect_eq(await m.call("wamp.subscription.list_subscribers", sid), [a._session_id], "subscribers after removing B")

    ack = PublishOptions(acknowledge=True)
    pub = await m.publish(T, "after revocation", options=ack)
    await m.publish(fence_topic, "fence", options=ack)
    expect_eq((await ea.next())[2].publication, pub.id, "A's event after B's revocation")
    expect_eq((await fence_b.next())[0], ["fence"], "B's fence event")
    eb.expect_none("at the revoked subscriber B")
    step("subscriber B revoked")

    await m.call("wamp.subscription.remove_subscriber", sid, a._session_id)
    if silently:
        await a.call("wamp.session.count")
        expect_eq([x for x in revoked[a._session_id] if isinstance(x, message.Unsubscribed)], [], "UNSUBSCRIBED at A")
    else:
        await h.wait_until(lambda: revoked[a._session_id], "UNSUBSCRIBED at subscriber A")
        expect_eq(revoked[a._session_id], [(0, sid, None)], "UNSUBSCRIBED (request, subscription, reason) at A")
    got = await log.until("on_delete", sid)
    expect_eq(about(got, sid), [("on_unsubscribe", a._session_id, sid), ("on_delete", a._session_id, sid)],
              "meta events after removing the last subscriber")
    await h.expect_error(m.call("wamp.subscription.get", sid), "wamp.error.no_such_subscription",
                         "get after removing every subscriber")
    await h.expect_error(m.call("wamp.subscription.remove_subscriber", NO_SUCH_ID, a._session_id),
                         "wamp.error.no_such_subscription", "remove_subscriber(unknown subscription)")
    expect(a.is_attached() and b.is_attached(), "revoked subscribers stay attached")
    await h.leave(a, b, m)


async def main(args):
    realm = h.unique(args.realm)
    if args.case == "remove_subscriber_silently":
        return await remove_subscriber(args, realm, silently=True)
    await {"procedures": procedures, "events": events, "remove_subscriber": remove_subscriber}[args.case](args, realm)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
