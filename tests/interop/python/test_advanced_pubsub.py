"""Advanced Profile PubSub (issue 5, wamp-spec §5) between real Autobahn|Python sessions:
publisher exclusion and identification, black/whitelisting, pattern-based subscriptions,
event retention and testaments."""

import pytest


def test_publisher_gets_own_event_only_with_exclude_me_false(scripts):
    scripts.run("pubsub_publisher_options.py", "exclusion")


def test_disclose_me_publication_identifies_publisher_and_others_do_not(scripts):
    scripts.run("pubsub_publisher_options.py", "identification")


@pytest.mark.parametrize("by", ["session", "authid", "authrole"])
def test_black_and_whitelisting_selects_subscribers(scripts, by):
    scripts.run("pubsub_blackwhite.py", by)


@pytest.mark.parametrize("serializer", ["json", "msgpack", "cbor"])
def test_pattern_subscriptions_get_one_event_each_with_concrete_topic(scripts, serializer):
    scripts.run("pubsub_patterns.py", "--serializer", serializer)


def test_get_retained_subscriber_receives_latest_retained_event(scripts):
    scripts.run("pubsub_retention.py")


@pytest.mark.parametrize("how", ["on_leave", "connection_lost"])
def test_testaments_are_published_detached_first_when_session_ends(scripts, how):
    scripts.run("session_testament.py", how)


def test_flush_testaments_discards_one_scope(scripts):
    scripts.run("session_testament.py", "flush")


def test_flush_testaments_returns_nothing(scripts):
    scripts.run("session_testament.py", "flush_result")
