"""Subscription meta API (wamp-spec §6.3) used by real Autobahn|Python sessions; each
scenario runs in a realm of its own."""


def test_subscription_meta_procedures_list_lookup_match_get_subscribers(scripts):
    scripts.run("pubsub_subscription_meta.py", "procedures")


def test_subscription_meta_events_create_subscribe_unsubscribe_delete_in_order(scripts):
    scripts.run("pubsub_subscription_meta.py", "events")


def test_remove_subscriber_revokes_one_subscriber_and_deletes_with_the_last(scripts):
    scripts.run("pubsub_subscription_meta.py", "remove_subscriber")


def test_remove_subscriber_sends_no_unsubscribed_to_subscriber_without_subscription_revocation(scripts):
    scripts.run("pubsub_subscription_meta.py", "remove_subscriber_silently")
