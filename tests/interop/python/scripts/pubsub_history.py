#!/usr/bin/env python3
"""Event history (wamp-spec §5.19) read with wamp.subscription.get_events by an
Autobahn|Python session. Needs a router whose realm keeps history for topics under
``--prefix`` (match prefix) with ``limit = --limit``, e.g.

    [[realm.history]]
    topic = "com.interop.history"
    match = "prefix"
    limit = 3

    python pubsub_history.py --prefix com.interop.history --limit 3 --url ws://127.0.0.1:8080/ws

Checks: only the newest ``limit`` events are kept, oldest first, each as
{timestamp (RFC 3339), subscription, publication, details, args, kwargs}; reverse=True gives
newest first; limit=N returns N of them; after_publication / before_publication select by
position; an event the reader would not have been eligible for (exclude_authrole) is not
returned to it; a topic without configured history has an empty history; an unknown
subscription id fails with wamp.error.no_such_subscription.
"""

import re

import _harness as h
from _harness import expect, expect_eq, step

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def options(parser):
    parser.add_argument("--prefix", required=True, help="topic prefix the router keeps history for")
    parser.add_argument("--limit", type=int, required=True, help="events the router keeps per topic")
    parser.add_argument("--serializer", default="json", choices=h.SERIALIZERS)


async def main(args):
    from autobahn.wamp.types import PublishOptions

    topic = h.unique(args.prefix)
    other = h.unique("com.interop.nohistory")
    reader = await h.join(args.url, args.realm, args.serializer, "reader")
    publisher = await h.join(args.url, args.realm, args.serializer, "publisher")
    sub = await h.subscribe(reader, topic, "reader")
    sub_other = await h.subscribe(reader, other, "reader (topic without history)")
    sid = sub.subscription.id

    # limit+1 visible events, and just before the last one an event the reader (authrole
    # anonymous) was not eligible for: the router keeps the newest `limit` publications and
    # must not return the hidden one to the reader
    n = args.limit + 1
    stored = []  # (i or None for the hidden one, publication id), in publication order
    for i in range(n):
        if i == n - 1:
            hidden = await publisher.publish(topic, "hidden", options=PublishOptions(acknowledge=True,
                                                                                    exclude_authrole=["anonymous"]))
            stored.append((None, hidden.id))
        p = await publisher.publish(topic, i, f"event {i}", square=i * i, options=PublishOptions(acknowledge=True))
        stored.append((i, p.id))
    await publisher.publish(other, "elsewhere", options=PublishOptions(acknowledge=True))
    for i in range(n):
        await sub.next()
    await sub_other.next()
    step(f"published {n} events (+1 hidden) to {topic}, history limit {args.limit}")

    def check_entry(e, i, pub_id, what):
        expect(isinstance(e, dict), f"{what}: entry is not a dict: {e!r}")
        expect(isinstance(e.get("timestamp"), str) and RFC3339.match(e["timestamp"]),
               f"{what}: timestamp is no RFC 3339 string: {e.get('timestamp')!r}")
        expect(isinstance(e.get("details"), dict), f"{what}: details is not a dict: {e.get('details')!r}")
        rest = {k: v for k, v in e.items() if k not in ("timestamp", "details")}
        expect_eq(rest, {"subscription": sid, "publication": pub_id, "args": [i, f"event {i}"],
                         "kwargs": {"square": i * i}}, what)

    async def get(what, **kwargs):
        events = await reader.call("wamp.subscription.get_events", sid, **kwargs)
        expect(isinstance(events, list), f"get_events({what}): expected a list, got {events!r}")
        return events

    kept = [(i, p) for i, p in stored[-args.limit:] if i is not None]
    events = await get("all")
    expect_eq([e.get("publication") for e in events], [p for _, p in kept],
              f"get_events: publications (of the newest {args.limit}, oldest first, without the hidden {hidden.id})")
    for e, (i, p) in zip(events, kept):
        check_entry(e, i, p, f"history entry of event {i}")
    step("history holds the newest events, oldest first")

    events = await get("reverse", reverse=True)
    expect_eq([e["publication"] for e in events], [p for _, p in reversed(kept)], "get_events(reverse=True)")
    events = await get("reverse, limit 2", reverse=True, limit=2)
    expect_eq([e["publication"] for e in events], [p for _, p in reversed(kept)][:2], "get_events(reverse=True, limit=2)")
    events = await get("limit 2", limit=2)
    ids = [e["publication"] for e in events]
    kept_ids = [p for _, p in kept]
    expect(len(ids) == 2 and any(ids == kept_ids[k:k + 2] for k in range(len(kept_ids) - 1)),
           f"get_events(limit=2): expected 2 consecutive events of {kept_ids} oldest first, got {ids}")
    events = await get("after first", after_publication=kept[0][1])
    expect_eq([e["publication"] for e in events], kept_ids[1:], "get_events(after_publication=<oldest kept>)")
    events = await get("before last", before_publication=kept[-1][1])
    expect_eq([e["publication"] for e in events], kept_ids[:-1], "get_events(before_publication=<newest>)")
    step("reverse, limit, after_publication, before_publication ok")

    expect_eq(await reader.call("wamp.subscription.get_events", sub_other.subscription.id), [],
              "get_events of a topic without history")
    await h.expect_error(reader.call("wamp.subscription.get_events", 1), "wamp.error.no_such_subscription",
                         "get_events(unknown subscription)")
    await h.leave(reader, publisher)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
