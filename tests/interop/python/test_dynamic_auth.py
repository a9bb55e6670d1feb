"""Dynamic authentication (a router started with ROUTER_CONFIG): the authenticator procedure
is an Autobahn|Python component on the open realm `auth`; Autobahn|Python ticket clients log
in to the locked realm `realm1` through it."""

import pytest

ROUTER_CONFIG = """
[[realm]]
name = "realm1"

[realm.auth.dynamic]
procedure = "com.example.authenticate"
realm = "auth"
authmethods = ["ticket"]

[[realm.role]]
name = "user"
[[realm.role.permission]]
uri = ""
match = "prefix"
call = true
register = true
publish = true
subscribe = true

[[realm]]
name = "auth"
"""


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
def test_ticket_login_decided_by_the_authenticator_procedure(scripts, serializer):
    scripts.run("dynamic_auth.py", "login", "--serializer", serializer)


def test_ticket_refused_by_the_authenticator_procedure_is_authentication_failed(scripts):
    scripts.run("dynamic_auth.py", "refused")
