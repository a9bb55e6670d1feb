#!/usr/bin/env python3
"""Subscribe in one asyncio ApplicationSession, publish with acknowledge=True from another.

Checks: the publication is acknowledged (PUBLISHED) with an id and the EVENT carries the
same publication id and the payload (args + kwargs); the publisher does not get its own
event unless it asks with exclude_me=False (the spec's default); a publication without
subscribers is acknowledged too; events from one publisher arrive in order; nothing
arrives after UNSUBSCRIBE.

    python pubsub_acknowledge.py --url ws://127.0.0.1:8080/ws --realm realm1 [--serializer json]
"""

import asyncio

import _harness as h
from _harness import expect, expect_eq, step


def options(parser):
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


async def subscribe_queue(session, topic):
    """Subscribe ``session`` to ``topic``; events land in the returned queue as (args, kwargs, details)."""
    from autobahn.wamp.types import SubscribeOptions

    queue = asyncio.Queue()

    def on_event(*args, details=None, **kwargs):
        queue.put_nowait((list(args), kwargs, details))

    sub = await session.subscribe(on_event, topic, options=SubscribeOptions(details_arg="details"))
    return sub, queue


async def next_event(queue, who, timeout=5.0):
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    except asyncio.TimeoutError:
        raise h.Failure(f"{who} received no EVENT within {timeout:g}s") from None


async def main(args):
    from autobahn.wamp.request import Publication
    from autobahn.wamp.types import PublishOptions

    topic = h.unique("com.interop.pubsub.topic")
    subscriber = await h.join(args.url, args.realm, args.serializer, "subscriber")
    publisher = await h.join(args.url, args.realm, args.serializer, "publisher")

    sub, events = await subscribe_queue(subscriber, topic)
    step(f"subscriber subscribed to {topic} (subscription {sub.id})")
    _, own_events = await subscribe_queue(publisher, topic)
    step(f"publisher subscribed to {topic} as well")

    # 1. acknowledged publication reaches the subscriber, not the publisher itself
    pub = await publisher.publish(topic, 1, "two", three=3, options=PublishOptions(acknowledge=True))
    expect(isinstance(pub, Publication), f"acknowledged publish() must yield a Publication, got {pub!r}")
    expect(isinstance(pub.id, int) and 1 <= pub.id <= 2**53, f"PUBLISHED publication id out of range: {pub.id!r}")
    step(f"publication acknowledged (id {pub.id})")
    ev_args, ev_kwargs, details = await next_event(events, "subscriber")
    expect_eq(ev_args, [1, "two"], "EVENT args")
    expect_eq(ev_kwargs, {"three": 3}, "EVENT kwargs")
    expect_eq(details.publication, pub.id, "EVENT publication id vs. PUBLISHED id")

    # 2. exclude_me=False: now the publisher receives its own event too ...
    pub2 = await publisher.publish(topic, "second", options=PublishOptions(acknowledge=True, exclude_me=False))
    own_args, _, own_details = await next_event(own_events, "publisher (exclude_me=False)")
    # ... and since events from one publisher are delivered in order, the first event it
    # sees must be this second publication: the first one was (correctly) not sent to it.
    expect_eq((own_args, own_details.publication), (["second"], pub2.id), "first event delivered to the publisher")
    ev_args, _, details = await next_event(events, "subscriber")
    expect_eq((ev_args, details.publication), (["second"], pub2.id), "second EVENT at the subscriber")
    step("exclude_me default and exclude_me=False ok")

    # 3. acknowledged publication to a topic nobody subscribed
    lonely = await publisher.publish(h.unique("com.interop.pubsub.nobody"), options=PublishOptions(acknowledge=True))
    expect(isinstance(lonely, Publication), f"publication without subscribers not acknowledged: {lonely!r}")

    # 4. a burst of unacknowledged events (publish() returns None), then an acknowledged
    #    one as a fence: the subscriber sees all of them, in order
    for i in range(50):
        expect(publisher.publish(topic, i) is None, "unacknowledged publish() must return None")
    fence = await publisher.publish(topic, "fence", options=PublishOptions(acknowledge=True))
    seen = [(await next_event(events, f"subscriber (event {i} of burst)"))[0] for i in range(51)]
    expect_eq(seen, [[i] for i in range(50)] + [["fence"]], "burst of EVENTs in publication order")
    step(f"burst of 50 + fence (id {fence.id}) delivered in order")

    # 5. after UNSUBSCRIBE nothing more arrives. The fence is an event on a second topic
    #    the subscriber still has: events from one publisher reach a subscriber in publish
    #    order across topics (spec, ordering guarantees), so a stray event would come first.
    fence_topic = h.unique("com.interop.pubsub.fence")
    _, fences = await subscribe_queue(subscriber, fence_topic)
    await sub.unsubscribe()
    step(f"subscriber unsubscribed from {topic}")
    await publisher.publish(topic, "after unsubscribe", options=PublishOptions(acknowledge=True))
    await publisher.publish(fence_topic, "fence", options=PublishOptions(acknowledge=True))
    expect_eq((await next_event(fences, "subscriber (fence topic)"))[0], ["fence"], "fence event")
    if not events.empty():
        raise h.Failure(f"subscriber got an event after UNSUBSCRIBE: {events.get_nowait()[0]!r}")
    await h.leave(publisher, subscriber)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
