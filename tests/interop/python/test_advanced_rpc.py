"""Advanced Profile RPC (issue 4, wamp-spec §5) between real Autobahn|Python sessions:
progressive results, dealer call timeout, canceling, caller identification, pattern-based
and shared registrations."""

import pytest


@pytest.mark.parametrize("serializer", ["json", "msgpack", "cbor"])
def test_progressive_results_reach_caller_in_order_before_final_result(scripts, serializer):
    scripts.run("rpc_progressive.py", "results", "--serializer", serializer)


def test_caller_leaving_mid_stream_interrupts_callee_with_killnowait(scripts):
    scripts.run("rpc_progressive.py", "caller_leaves")


def test_callee_leaving_mid_stream_fails_call_with_canceled(scripts):
    scripts.run("rpc_progressive.py", "callee_leaves")


def test_callee_without_call_canceling_is_not_asked_for_progress(scripts):
    scripts.run("rpc_progressive.py", "callee_without_canceling")


def test_call_timeout_gives_caller_timeout_error_and_interrupts_callee(scripts):
    scripts.run("rpc_timeout.py", "call_timeout")


def test_call_timeout_applies_per_gap_between_progressive_results(scripts):
    scripts.run("rpc_timeout.py", "progress_gaps")


def test_forward_timeout_registration_gets_timeout_in_invocation_and_times_itself(scripts):
    scripts.run("rpc_timeout.py", "forward_timeout")


def test_call_timeout_at_callee_without_call_canceling_sends_no_interrupt(scripts):
    scripts.run("rpc_timeout.py", "callee_without_canceling")


def test_cancel_skip_answers_caller_at_once_without_interrupting_callee(scripts):
    scripts.run("rpc_cancel.py", "skip")


def test_cancel_kill_interrupts_callee_and_answers_caller_after_callee(scripts):
    scripts.run("rpc_cancel.py", "kill")


def test_cancel_kill_delivers_result_of_callee_that_finished_anyway(scripts):
    scripts.run("rpc_cancel.py", "kill_result")


def test_cancel_killnowait_answers_caller_at_once_and_interrupts_callee(scripts):
    scripts.run("rpc_cancel.py", "killnowait")


def test_cancel_at_callee_without_call_canceling_acts_as_skip(scripts):
    scripts.run("rpc_cancel.py", "callee_without_canceling")


def test_autobahn_future_cancel_without_mode_acts_as_killnowait(scripts):
    scripts.run("rpc_cancel.py", "no_mode")


def test_disclose_me_call_shows_caller_id_authid_authrole_to_callee(scripts):
    scripts.run("rpc_caller_disclosure.py", "disclose_me")


def test_disclose_caller_registration_shows_caller_to_callee(scripts):
    scripts.run("rpc_caller_disclosure.py", "disclose_caller")


def test_caller_is_not_disclosed_unless_asked(scripts):
    scripts.run("rpc_caller_disclosure.py", "not_disclosed")


def test_pattern_registration_precedence_exact_then_longest_prefix_then_wildcard(scripts):
    scripts.run("rpc_pattern_registration.py", "precedence")


def test_wildcard_registration_ties_go_to_longest_concrete_run(scripts):
    scripts.run("rpc_pattern_registration.py", "wildcard_ties")


@pytest.mark.parametrize("policy", ["roundrobin", "random", "first", "last"])
def test_shared_registration_distributes_calls_by_invoke_policy(scripts, policy):
    scripts.run("rpc_shared_registration.py", policy)


def test_shared_registration_with_other_invoke_policy_fails_with_procedure_already_exists(scripts):
    scripts.run("rpc_shared_registration.py", "policy_conflict")


def test_concurrency_limit_queues_calls_until_callee_is_free_and_queued_calls_can_be_canceled(scripts):
    scripts.run("rpc_shared_registration.py", "concurrency")
