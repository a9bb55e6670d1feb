"""RPC between real Autobahn|Python sessions (asyncio ApplicationSession) via the router."""

import pytest

# (callee serializer, caller serializer): same serializer, and every direction of translation
SERIALIZER_PAIRS = [
    ("json", "json"),
    ("msgpack", "msgpack"),
    ("cbor", "cbor"),
    ("json", "msgpack"),
    ("msgpack", "cbor"),
    ("cbor", "json"),
]


@pytest.mark.parametrize(
    "callee,caller", SERIALIZER_PAIRS, ids=[f"callee_{a}-caller_{b}" for a, b in SERIALIZER_PAIRS]
)
def test_register_and_call_with_args_and_kwargs(scripts, callee, caller):
    scripts.run("rpc_args_kwargs.py", "--callee-serializer", callee, "--caller-serializer", caller)


@pytest.mark.parametrize("callee,caller", [("json", "json"), ("cbor", "msgpack")],
                         ids=["callee_json-caller_json", "callee_cbor-caller_msgpack"])
def test_application_error_reaches_caller_with_uri_args_and_kwargs(scripts, callee, caller):
    scripts.run("rpc_application_error.py", "--callee-serializer", callee, "--caller-serializer", caller)


def test_call_to_unregistered_procedure_fails_with_no_such_procedure(scripts):
    scripts.run("rpc_wamp_errors.py", "no_such_procedure")


def test_registering_registered_procedure_fails_with_procedure_already_exists(scripts):
    scripts.run("rpc_wamp_errors.py", "procedure_already_exists")
