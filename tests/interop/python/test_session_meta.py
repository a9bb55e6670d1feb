"""Session meta API (wamp-spec §6.1) and the features WELCOME announces, with real
Autobahn|Python sessions; the session meta scenarios run in realms of their own."""

import pytest


def test_welcome_announces_exactly_the_implemented_broker_and_dealer_features(scripts):
    scripts.run("welcome_features.py")


def test_session_count_list_with_authrole_filter_and_get(scripts):
    scripts.run("session_meta.py", "count_list_get")


def test_session_on_join_and_on_leave_events_carry_spec_payloads(scripts):
    scripts.run("session_meta.py", "join_leave")


def test_session_kill_closes_session_with_reason_and_message(scripts):
    scripts.run("session_meta.py", "kill")


@pytest.mark.parametrize("by", ["authid", "authrole"])
def test_session_kill_by_closes_matching_sessions_but_not_caller(scripts, by):
    scripts.run("session_meta.py", f"kill_by_{by}")


def test_session_kill_all_closes_others_without_on_leave_or_testaments(scripts):
    scripts.run("session_meta.py", "kill_all")
