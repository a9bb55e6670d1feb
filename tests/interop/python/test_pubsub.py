"""PubSub between real Autobahn|Python sessions (asyncio ApplicationSession) via the router."""

import pytest


@pytest.mark.parametrize("serializer", ["json", "msgpack", "cbor"])
def test_acknowledged_publish_is_delivered_to_subscriber(scripts, serializer):
    scripts.run("pubsub_acknowledge.py", "--serializer", serializer)


def test_json_publication_reaches_msgpack_and_cbor_subscribers_unchanged(scripts):
    # includes bytes values: JSON "\u0000"+base64 strings must become msgpack/CBOR binary
    scripts.run("pubsub_serializer_bridge.py", "--publisher", "json")


def test_binary_publications_reach_json_subscribers_unchanged(scripts):
    # the other direction: msgpack/CBOR binary must become JSON "\u0000"+base64 strings
    scripts.run("pubsub_serializer_bridge.py", "--publisher", "msgpack", "--publisher", "cbor")
