"""Authentication and authorization with Autobahn|Python's own authenticators, against
`switchboard start --config examples/auth.toml` (fixture `auth_router`)."""

import pytest

SUCCESSFUL = ["anonymous", "ticket", "wampcra", "wampcra-salted", "scram", "cryptosign"]
REFUSED = [
    "wrong-ticket",
    "unknown-ticket",
    "wrong-wampcra",
    "wrong-wampcra-salted",
    "wrong-scram",
    "unknown-scram",
    "wrong-cryptosign",
]


@pytest.mark.parametrize("method", SUCCESSFUL)
def test_login_succeeds_and_welcome_reports_the_principal(auth_scripts, method):
    auth_scripts.run("auth.py", "login", method)


@pytest.mark.parametrize("serializer", ["msgpack", "cbor"])
def test_scram_login_with_binary_serializers(auth_scripts, serializer):
    auth_scripts.run("auth.py", "login", "scram", "--serializer", serializer)


def test_cryptosign_login_over_rawsocket(auth_scripts):
    auth_scripts.run("auth.py", "login", "cryptosign", "--transport", "rawsocket", "--serializer", "msgpack")


@pytest.mark.parametrize("case", REFUSED)
def test_failed_login_is_aborted_with_authentication_failed(auth_scripts, case):
    auth_scripts.run("auth.py", "refused", case)


def test_user_may_do_everything_and_anonymous_only_call_and_subscribe_under_public(auth_scripts):
    auth_scripts.run("auth.py", "authorize")
