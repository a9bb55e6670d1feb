#!/usr/bin/env python3
"""Publisher exclusion (wamp-spec §5.13) and publisher identification (§5.14) with
Autobahn|Python publishers and subscribers.

Autobahn 26.10.2's PublishOptions has no ``disclose_me``: the identification case adds
``disclose_me: true`` to the Options of an otherwise unchanged Autobahn PUBLISH
(_harness.inject_options). "Not delivered" is proven with a fence: events from one
publisher reach a subscriber in publication order (across topics too), so once a later
event has arrived, an earlier one that is missing was not sent.

    python pubsub_publisher_options.py exclusion|identification --url ws://127.0.0.1:8080/ws

exclusion:      the publisher gets its own event only with exclude_me=False (default and
                exclude_me=True exclude it, also when eligible names it); other
                subscribers get every event they are eligible for.
identification: with disclose_me the EVENT details carry publisher (session id),
                publisher_authid and publisher_authrole from the publisher's WELCOME;
                without it none of them.
"""

import _harness as h
from _harness import expect_eq, step


def options(parser):
    parser.add_argument("case", choices=("exclusion", "identification"))
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


async def exclusion(pub, sub, topic, ack):
    from autobahn.wamp.types import PublishOptions

    own = await h.subscribe(pub, topic, "publisher (own subscription)")
    other = await h.subscribe(sub, topic, "subscriber")
    labels = [("default", PublishOptions(acknowledge=True)),
              ("exclude_me=False", PublishOptions(acknowledge=True, exclude_me=False)),
              ("exclude_me=True", PublishOptions(acknowledge=True, exclude_me=True)),
              # whitelisting the publisher does not lift publisher exclusion
              ("eligible publisher", PublishOptions(acknowledge=True, eligible=[pub._session_id])),
              ("fence", PublishOptions(acknowledge=True, exclude_me=False))]
    pubs = {}
    for label, opts in labels:
        pubs[label] = (await pub.publish(topic, label, options=opts)).id
    for label in ("exclude_me=False", "fence"):
        args, _, details = await own.next()
        expect_eq((args, details.publication), ([label], pubs[label]), "event the publisher got for itself")
    own.expect_none("at the publisher after the fence")
    for label, _ in labels:
        if label == "eligible publisher":
            continue
        args, _, details = await other.next()
        expect_eq((args, details.publication), ([label], pubs[label]), "event at the other subscriber")
    other.expect_none("at the subscriber after the fence")
    step("publisher got exactly its exclude_me=False events; the subscriber all")


async def identification(pub, sub, topic, ack):
    from autobahn.wamp import message

    events = await h.subscribe(sub, topic, "subscriber")
    h.inject_options(pub, message.Publish, disclose_me=True)
    await pub.publish(topic, "disclosed", options=ack)
    await pub.publish(topic, "plain", options=ack)

    def identity(details):
        return {"publisher": details.publisher, "publisher_authid": details.publisher_authid,
                "publisher_authrole": details.publisher_authrole}

    args, _, details = await events.next()
    expect_eq(args, ["disclosed"], "first event")
    expect_eq(pub._authrole, "anonymous", "publisher's authrole in WELCOME")
    expect_eq(identity(details), {"publisher": pub._session_id, "publisher_authid": pub._authid,
                                  "publisher_authrole": pub._authrole}, "EVENT details of a disclose_me publication")
    args, _, details = await events.next()
    expect_eq(args, ["plain"], "second event")
    expect_eq(identity(details), {"publisher": None, "publisher_authid": None, "publisher_authrole": None},
              "EVENT details of a publication without disclose_me")
    step("publisher disclosed only when asked")


async def main(args):
    from autobahn.wamp.types import PublishOptions

    topic = h.unique("com.interop.publisher")
    pub = await h.join(args.url, args.realm, args.serializer, "publisher")
    sub = await h.join(args.url, args.realm, args.serializer, "subscriber")
    await {"exclusion": exclusion, "identification": identification}[args.case](
        pub, sub, topic, PublishOptions(acknowledge=True))
    await h.leave(pub, sub)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
