"""Payload Passthru Mode (wamp-spec §5.22) between real Autobahn|Python sessions: ppt_*
keys copied CALL→INVOCATION, YIELD→RESULT, callee ERROR→caller ERROR, PUBLISH→EVENT, the one
binary argument forwarded byte for byte across serializers; feature announcement enforced.

Autobahn 26.10.2 has no API for the spec's ppt_* keys; scripts/payload_passthru.py announces
the flag and injects the keys into otherwise unchanged Autobahn messages (see its docstring).
"""


def test_passthru_call_and_yield_forward_ppt_keys_and_exact_bytes_msgpack_caller_json_callee(scripts):
    scripts.run("payload_passthru.py", "rpc", "--caller-serializer", "msgpack", "--callee-serializer", "json")


def test_passthru_callee_error_forwards_ppt_keys_and_exact_bytes_to_caller(scripts):
    scripts.run("payload_passthru.py", "rpc_error", "--caller-serializer", "msgpack", "--callee-serializer", "json")


def test_passthru_publish_forwards_ppt_keys_and_exact_bytes_cbor_publisher_json_subscriber(scripts):
    scripts.run("payload_passthru.py", "pubsub", "--publisher-serializer", "cbor", "--subscriber-serializer", "json")


def test_passthru_call_from_caller_without_feature_is_aborted_with_protocol_violation(scripts):
    scripts.run("payload_passthru.py", "caller_not_announced")


def test_passthru_publish_from_publisher_without_feature_is_aborted_with_protocol_violation(scripts):
    scripts.run("payload_passthru.py", "publisher_not_announced")


def test_passthru_call_to_callee_without_feature_fails_with_feature_not_supported(scripts):
    scripts.run("payload_passthru.py", "callee_not_announced")
