"""WAMP over RawSocket (rs://) with Autobahn|Python, talking to WebSocket sessions too."""

import pytest


def test_rawsocket_msgpack_session_does_rpc_and_pubsub(router, scripts):
    router.need_rawsocket()
    scripts.run("rawsocket.py", "--serializer", "msgpack")


@pytest.mark.parametrize("serializer", ["json", "cbor"])
def test_rawsocket_session_with_other_serializers_does_rpc_and_pubsub(router, scripts, serializer):
    router.need_rawsocket()
    scripts.run("rawsocket.py", "--serializer", serializer)


def test_rawsocket_caller_reaches_websocket_callee_with_args_and_kwargs(router, scripts):
    router.need_rawsocket()
    scripts.run("rpc_args_kwargs.py", "--transport", "rawsocket",
                "--callee-serializer", "json", "--caller-serializer", "msgpack")
