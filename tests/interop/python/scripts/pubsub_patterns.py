#!/usr/bin/env python3
"""Pattern-based subscriptions (wamp-spec §5.17) of an Autobahn|Python subscriber.

One session holds an exact, two prefix and two wildcard subscriptions. Every publication
is delivered once per matching subscription (no precedence, unlike RPC), all with the
same publication id, and with EVENT.Details.topic = the concrete topic (Autobahn would
otherwise report the subscription's pattern as details.topic). Publications are
acknowledged and end with a fence event on every subscription.

    python pubsub_patterns.py --url ws://127.0.0.1:8080/ws [--serializer json]
"""

import _harness as h
from _harness import expect_eq, step


def options(parser):
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


async def main(args):
    from autobahn.wamp.types import PublishOptions

    b = h.unique("com.interop.patterns")
    subscriber = await h.join(args.url, args.realm, args.serializer, "subscriber")
    publisher = await h.join(args.url, args.realm, args.serializer, "publisher")
    subs = {
        "exact a.b": await h.subscribe(subscriber, f"{b}.a.b", "exact a.b"),
        "prefix a": await h.subscribe(subscriber, f"{b}.a", "prefix a", match="prefix"),
        "prefix base": await h.subscribe(subscriber, b, "prefix base", match="prefix"),
        "wildcard .b": await h.subscribe(subscriber, f"{b}..b", "wildcard .b", match="wildcard"),
        "wildcard a.": await h.subscribe(subscriber, f"{b}.a.", "wildcard a.", match="wildcard"),
    }
    ids = [s.subscription.id for s in subs.values()]
    expect_eq(len(set(ids)), len(ids), "subscription ids of 5 different subscriptions are distinct")
    step(f"subscribed: {', '.join(subs)}")

    plan = [
        (f"{b}.a.b", {"exact a.b", "prefix a", "prefix base", "wildcard .b", "wildcard a."}),
        (f"{b}.a.x", {"prefix a", "prefix base", "wildcard a."}),
        (f"{b}.q.b", {"prefix base", "wildcard .b"}),
        (f"{b}.a.b.c", {"prefix a", "prefix base"}),  # wildcards need equal component counts
        (f"{b}.q", {"prefix base"}),
        # prefix matching is by string (spec example: com.myapp.myobject1 matches
        # com.myapp.myobject1-mysubobject1): "<b>.a" matches "<b>.a-b"
        (f"{b}.a-b", {"prefix a", "prefix base"}),
        (f"{b[:-1]}.a.b", set()),  # matches nothing
        (f"{b}.a.b", set(subs)),  # fence: every subscription
    ]
    pub_ids = []
    for topic, _ in plan:
        pub_ids.append((await publisher.publish(topic, topic, options=PublishOptions(acknowledge=True))).id)

    for name, events in subs.items():
        pattern = events.subscription.topic
        expected = [(topic, pid) for (topic, receivers), pid in zip(plan, pub_ids) if name in receivers]
        got = []
        for _ in expected:
            ev_args, _, details = await events.next()
            expect_eq(details.topic, ev_args[0], f"{name}: details.topic (pattern {pattern!r})")
            expect_eq(details.subscription.id, events.subscription.id, f"{name}: subscription of the event")
            got.append((ev_args[0], details.publication))
        expect_eq(got, expected, f"{name}: (topic, publication) of the events received")
        events.expect_none("after the fence")
        step(f"{name}: {len(got)} events")
    await h.leave(publisher, subscriber)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
