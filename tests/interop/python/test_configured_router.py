"""Features that need router configuration (a router of its own, started with
ROUTER_CONFIG): event history read with wamp.subscription.get_events, and the realm's
default and maximum call timeouts."""

HISTORY_PREFIX = "com.interop.history"
HISTORY_LIMIT = 4
TIMEOUT_DEFAULT_MS = 400
TIMEOUT_MAX_MS = 800

ROUTER_CONFIG = f"""
[router]
auto_realms = true

[[realm]]
name = "realm1"
call_timeout_default_ms = {TIMEOUT_DEFAULT_MS}
call_timeout_max_ms = {TIMEOUT_MAX_MS}

[[realm.history]]
topic = "{HISTORY_PREFIX}"
match = "prefix"
limit = {HISTORY_LIMIT}
"""


def test_event_history_keeps_newest_events_and_get_events_honours_reverse_and_limit(scripts):
    scripts.run("pubsub_history.py", "--prefix", HISTORY_PREFIX, "--limit", HISTORY_LIMIT)


def test_realm_default_call_timeout_applies_to_calls_without_timeout(scripts):
    scripts.run("rpc_timeout.py", "realm_default", "--ms", TIMEOUT_DEFAULT_MS)


def test_realm_maximum_call_timeout_caps_longer_timeouts(scripts):
    scripts.run("rpc_timeout.py", "realm_max", "--ms", TIMEOUT_MAX_MS)
