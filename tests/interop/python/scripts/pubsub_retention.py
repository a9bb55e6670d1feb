#!/usr/bin/env python3
"""Event retention (wamp-spec §5.20): PublishOptions(retain=True) and
SubscribeOptions(get_retained=True) between Autobahn|Python sessions.

    python pubsub_retention.py --url ws://127.0.0.1:8080/ws [--serializer json]

Checks: a subscriber with get_retained gets exactly the most recent retained event of the
topic (publication id, args, kwargs), after SUBSCRIBED, with details.retained == True;
events published without retain do not replace it; later live events have no
``retained: true``; a subscriber without get_retained gets no retained event; a topic
without a retained event delivers nothing on get_retained; a retained publication the
new subscriber would not have been eligible for (``eligible`` = someone else) is never
sent to it. "Nothing delivered" is proven by a later fence publication.
"""

import _harness as h
from _harness import expect, expect_eq, step


def options(parser):
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


async def main(args):
    from autobahn.wamp.types import PublishOptions

    topic = h.unique("com.interop.retained")
    empty = h.unique("com.interop.retained.none")
    publisher = await h.join(args.url, args.realm, args.serializer, "publisher")

    def opts(**kw):
        return PublishOptions(acknowledge=True, **kw)

    await publisher.publish(topic, "first", options=opts(retain=True))
    second = await publisher.publish(topic, "second", n=2, options=opts(retain=True))
    await publisher.publish(topic, "not retained", options=opts())
    step(f"published 2 retained events and a plain one to {topic}")

    sub = await h.join(args.url, args.realm, args.serializer, "subscriber")
    events = await h.subscribe(sub, topic, "get_retained subscriber", get_retained=True)
    nothing = await h.subscribe(sub, empty, "get_retained subscriber of a topic without retained event",
                                get_retained=True)
    ev_args, ev_kwargs, details = await events.next()
    expect_eq((ev_args, ev_kwargs, details.publication), (["second"], {"n": 2}, second.id), "retained event")
    expect_eq(details.retained, True, "details.retained of the retained event")
    step("got the most recent retained event with retained=True")

    plain_sub = await h.join(args.url, args.realm, args.serializer, "plain subscriber")
    plain = await h.subscribe(plain_sub, topic, "subscriber without get_retained")
    live = await publisher.publish(topic, "live", options=opts())
    await publisher.publish(empty, "fence", options=opts())
    for who in (events, plain):
        ev_args, _, details = await who.next()
        expect_eq((ev_args, details.publication), (["live"], live.id), f"{who.who}: first event after subscribing")
        expect(details.retained in (None, False), f"{who.who}: live event marked retained={details.retained!r}")
    ev_args, _, _ = await nothing.next()
    expect_eq(ev_args, ["fence"], "first event on the topic without retained event")
    step("no retained event without get_retained or without a retained publication")

    # a retained publication only some other session was eligible for is not handed out
    restricted = await publisher.publish(topic, "restricted", options=opts(retain=True, eligible=[publisher._session_id],
                                                                          exclude_me=False))
    late = await h.join(args.url, args.realm, args.serializer, "late subscriber")
    late_events = await h.subscribe(late, topic, "late get_retained subscriber", get_retained=True)
    fence = await publisher.publish(topic, "fence", options=opts())
    while True:
        ev_args, _, details = await late_events.next()
        expect(details.publication != restricted.id, "late subscriber got a retained event it was not eligible for")
        if ev_args == ["fence"]:
            expect_eq(details.publication, fence.id, "fence publication id")
            break
        # the router may keep the last event everybody could receive
        expect_eq((ev_args, details.publication, details.retained), (["second"], second.id, True),
                  "retained event at the late subscriber")
    step("restricted retained event not sent to an ineligible subscriber")
    await h.leave(publisher, sub, plain_sub, late)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
