#!/usr/bin/env python3
"""Payload Passthru Mode (wamp-spec §5.22): ppt_* keys and one opaque binary argument,
forwarded unchanged between real Autobahn|Python sessions of different serializers.

Autobahn 26.10.2 does not speak the spec's passthru mode (it has its own
``payload_transparency``/``enc_algo`` E2EE), so the scenarios use plain Autobahn sessions
and:

* announce the spec flag with ``h.join(..., with_features={"caller": ["payload_passthru_mode"]})``
  (Autobahn's default roles announce ``payload_transparency``, never ``payload_passthru_mode``,
  so a session joined without ``with_features`` has not announced the feature);
* add the ``ppt_*`` keys to the Options (Details for ERROR) of otherwise unchanged Autobahn
  CALL/YIELD/PUBLISH/ERROR messages (``h.inject_options``);
* read what arrives with ``h.record_raw_incoming``: Autobahn's parser drops ``ppt_*`` keys
  from INVOCATION/RESULT/EVENT/ERROR details, and does not report an ABORT that arrives
  after the session was established.

The payload is one ``bytes`` argument holding every byte value (so a router that decoded,
re-encoded, trimmed or text-converted it would change it); its bytes must arrive
identical, also from a binary serializer (msgpack/cbor bin) to JSON (``"\\u0000"``+base64)
and back.

Cases:

  rpc                   caller (--caller-serializer, default msgpack) and callee (--callee-serializer,
                        default json) both announce the feature: CALL with ppt options and one bytes
                        argument; INVOCATION.Details carry exactly the CALL's ppt keys, the argument is
                        the same bytes; the callee's YIELD with other ppt keys and other bytes: RESULT
                        carries exactly the YIELD's ppt keys and those bytes.
  rpc_error             as rpc, but the callee answers with ERROR (ppt keys in Details, one bytes
                        argument): the caller's ERROR carries the same URI, ppt keys and bytes.
  pubsub                publisher (--publisher-serializer, default cbor) and subscriber
                        (--subscriber-serializer, default json) both announce the feature: PUBLISH with
                        ppt options and one bytes argument; EVENT.Details carry exactly its ppt keys,
                        the argument is the same bytes.
  caller_not_announced  a caller without the feature sends a ppt CALL: ABORT
                        wamp.error.protocol_violation, transport closed, callee never invoked.
  publisher_not_announced  the same for a PUBLISH: ABORT wamp.error.protocol_violation, no EVENT.
  callee_not_announced  a ppt CALL to a callee without the feature: ERROR
                        wamp.error.feature_not_supported, callee never invoked, caller still joined.

    python payload_passthru.py rpc --url ws://127.0.0.1:8080/ws
"""

import asyncio
import secrets

import _harness as h
from _harness import expect, expect_eq, step

CASES = (
    "rpc", "rpc_error", "pubsub",
    "caller_not_announced", "publisher_not_announced", "callee_not_announced",
)

FEATURE = "payload_passthru_mode"

# what each message carries; different per message, so a router echoing the wrong
# message's keys (or keeping keys from an earlier message) is caught
CALL_PPT = {"ppt_scheme": "x_switchboard_interop", "ppt_serializer": "cbor",
            "ppt_cipher": "xsalsa20poly1305", "ppt_keyid": "0x" + "ab" * 20}
YIELD_PPT = {"ppt_scheme": "mqtt", "ppt_serializer": "json"}
ERROR_PPT = {"ppt_scheme": "x_switchboard_interop", "ppt_serializer": "msgpack", "ppt_keyid": "0x" + "cd" * 20}
PUBLISH_PPT = {"ppt_scheme": "wamp", "ppt_serializer": "cbor", "ppt_cipher": "aes256gcm",
               "ppt_keyid": "0x" + "ef" * 20}

ERROR_URI = "com.interop.ppt_failed"

# message type codes
ABORT, ERROR, RESULT, INVOCATION, EVENT = 3, 8, 50, 68, 36


def blob(tag: bytes) -> bytes:
    """Every byte value (NUL first, invalid UTF-8, ...), then random bytes and a tag."""
    return bytes(range(256)) + secrets.token_bytes(61) + tag


def options(parser):
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--caller-serializer", default="msgpack", choices=h.SERIALIZERS)
    parser.add_argument("--callee-serializer", default="json", choices=h.SERIALIZERS)
    parser.add_argument("--publisher-serializer", default="cbor", choices=h.SERIALIZERS)
    parser.add_argument("--subscriber-serializer", default="json", choices=h.SERIALIZERS)


def ppt_of(details) -> dict:
    return {k: v for k, v in details.items() if k.startswith("ppt_")}


def only(raw: list, code: int, what: str) -> list:
    """The one raw message of type ``code`` in ``raw``."""
    found = [m for m in raw if m and m[0] == code]
    expect_eq(len(found), 1, f"number of {what} messages received (all: {raw!r})")
    return found[0]


def expect_payload(raw_msg: list, at: int, payload: bytes, what: str) -> None:
    """``raw_msg[at:]`` is exactly ``[[payload]]`` (one binary argument), plus at most an empty
    ArgumentsKw."""
    rest = raw_msg[at:]
    expect(len(rest) in (1, 2), f"{what}: expected Arguments (and no ArgumentsKw), got {rest!r}")
    if len(rest) == 2:
        expect_eq(rest[1], {}, f"{what}: ArgumentsKw")
    args = rest[0]
    expect(isinstance(args, list) and len(args) == 1,
           f"{what}: Arguments must be one binary element, got {args!r}")
    expect(isinstance(args[0], bytes), f"{what}: the argument is not binary: {type(args[0]).__name__} {args[0]!r}")
    expect(args[0] == payload, f"{what}: payload bytes changed: sent {len(payload)} bytes {payload.hex()}, "
                               f"got {len(args[0])} bytes {args[0].hex()}")


class Callee:
    """A registered procedure recording each invocation's positional args."""

    def __init__(self, session, answer=None):
        self.session = session
        self.answer = answer  # what the handler returns, or an exception it raises
        self.calls: list = []

    def handle(self, *args, details=None, **kwargs):
        self.calls.append((list(args), kwargs))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def register(self, proc):
        from autobahn.wamp.types import RegisterOptions

        await self.session.register(self.handle, proc, options=RegisterOptions(details_arg="details"))


async def rpc(args, fails: bool):
    from autobahn.wamp import message
    from autobahn.wamp.exception import ApplicationError

    proc = h.unique("com.interop.ppt")
    call_payload, answer_payload = blob(b"call"), blob(b"answer")
    callee_s = await h.join(args.url, args.realm, args.callee_serializer, "callee",
                            with_features={"callee": [FEATURE]})
    caller = await h.join(args.url, args.realm, args.caller_serializer, "caller",
                          with_features={"caller": [FEATURE]})
    callee = Callee(callee_s, ApplicationError(ERROR_URI, answer_payload) if fails else answer_payload)
    await callee.register(proc)
    callee_raw = h.record_raw_incoming(callee_s)
    caller_raw = h.record_raw_incoming(caller)
    step(f"{args.callee_serializer} callee registered {proc}; {args.caller_serializer} caller joined")

    # the callee's answer carries ppt keys of its own
    if fails:
        h.inject_options(callee_s, message.Error, **ERROR_PPT)
    else:
        h.inject_options(callee_s, message.Yield, **YIELD_PPT)
    h.inject_options(caller, message.Call, **CALL_PPT)
    call = caller.call(proc, call_payload)
    if fails:
        e = await h.expect_error(call, ERROR_URI, "ppt CALL answered by a ppt ERROR")
        expect_eq(list(e.args), [answer_payload], "ApplicationError args at the caller")
    else:
        expect_eq(await asyncio.wait_for(call, 5), answer_payload, "call result at the caller")
    step("caller got the callee's bytes back")

    # what the callee saw: [INVOCATION, request, registration, Details, Arguments]
    inv = only(callee_raw, INVOCATION, "INVOCATION")
    expect_eq(ppt_of(inv[3]), CALL_PPT, "ppt keys in INVOCATION.Details")
    expect_payload(inv, 4, call_payload, "INVOCATION")
    expect_eq(callee.calls, [([call_payload], {})], "args/kwargs the callee's handler got")
    step(f"INVOCATION ok: {inv[3]!r}")

    if fails:
        # [ERROR, CALL, request, Details, Error, Arguments]
        err = only(caller_raw, ERROR, "ERROR")
        expect_eq(err[1], 48, "ERROR request type")
        expect_eq(err[4], ERROR_URI, "ERROR uri")
        expect_eq(ppt_of(err[3]), ERROR_PPT, "ppt keys in the caller's ERROR.Details")
        expect_payload(err, 5, answer_payload, "ERROR to the caller")
        step(f"ERROR ok: {err[3]!r}")
    else:
        # [RESULT, request, Details, Arguments]
        res = only(caller_raw, RESULT, "RESULT")
        expect_eq(ppt_of(res[2]), YIELD_PPT, "ppt keys in RESULT.Details")
        expect_payload(res, 3, answer_payload, "RESULT")
        step(f"RESULT ok: {res[2]!r}")
    await h.leave(caller, callee_s)


async def pubsub(args):
    from autobahn.wamp import message
    from autobahn.wamp.types import PublishOptions

    topic = h.unique("com.interop.ppt")
    payload = blob(b"event")
    sub = await h.join(args.url, args.realm, args.subscriber_serializer, "subscriber",
                       with_features={"subscriber": [FEATURE]})
    pub = await h.join(args.url, args.realm, args.publisher_serializer, "publisher",
                       with_features={"publisher": [FEATURE]})
    events = await h.subscribe(sub, topic, "subscriber")
    sub_raw = h.record_raw_incoming(sub)
    step(f"{args.subscriber_serializer} subscriber on {topic}; {args.publisher_serializer} publisher joined")

    h.inject_options(pub, message.Publish, **PUBLISH_PPT)
    await asyncio.wait_for(pub.publish(topic, payload, options=PublishOptions(acknowledge=True)), 5)
    got_args, got_kwargs, _ = await events.next()
    expect_eq(got_args, [payload], "args the subscriber's handler got")
    expect_eq(got_kwargs, {}, "kwargs the subscriber's handler got")
    # [EVENT, subscription, publication, Details, Arguments]
    ev = only(sub_raw, EVENT, "EVENT")
    expect_eq(ppt_of(ev[3]), PUBLISH_PPT, "ppt keys in EVENT.Details")
    expect_payload(ev, 4, payload, "EVENT")
    step(f"EVENT ok: {ev[3]!r}")
    await h.leave(pub, sub)


async def expect_aborted(session, raw: list, what: str):
    """``session`` was sent ABORT wamp.error.protocol_violation (and nothing else) and its
    transport is gone."""
    try:
        await asyncio.wait_for(asyncio.shield(session.closed), 5)
    except asyncio.TimeoutError:
        raise h.Failure(f"{what}: transport still open 5s later (received: {raw!r})") from None
    expect(len(raw) >= 1 and raw[-1][0] == ABORT, f"{what}: expected an ABORT, received {raw!r}")
    expect_eq(raw, [raw[-1]], f"{what}: messages received (only the ABORT)")
    expect_eq(raw[-1][2], "wamp.error.protocol_violation", f"{what}: ABORT reason")
    step(f"{what}: ABORT {raw[-1][1:]!r}")


async def caller_not_announced(args):
    from autobahn.wamp import message

    proc = h.unique("com.interop.ppt")
    callee_s = await h.join(args.url, args.realm, args.callee_serializer, "callee",
                            with_features={"callee": [FEATURE]})
    callee = Callee(callee_s, "plain")
    await callee.register(proc)
    # Autobahn's defaults: caller announces payload_transparency, not payload_passthru_mode
    bad = await h.join(args.url, args.realm, args.caller_serializer, "caller without the feature")
    expect(getattr(bad._session_roles["caller"], FEATURE, None) is None, "the caller announces the feature")
    bad_raw = h.record_raw_incoming(bad)
    h.inject_options(bad, message.Call, **CALL_PPT)
    pending = bad.call(proc, blob(b"call"))
    await expect_aborted(bad, bad_raw, "ppt CALL from a caller without the feature")
    if asyncio.isfuture(pending):
        pending.cancel()

    # fence: a later CALL reaches the callee, the ppt CALL never did
    good = await h.join(args.url, args.realm, args.caller_serializer, "caller",
                        with_features={"caller": [FEATURE]})
    expect_eq(await asyncio.wait_for(good.call(proc, "fence"), 5), "plain", "fence call result")
    expect_eq(callee.calls, [(["fence"], {})], "invocations the callee got")
    step("callee was never invoked by the ppt CALL")
    await h.leave(good, callee_s)


async def publisher_not_announced(args):
    from autobahn.wamp import message
    from autobahn.wamp.types import PublishOptions

    topic = h.unique("com.interop.ppt")
    sub = await h.join(args.url, args.realm, args.subscriber_serializer, "subscriber",
                       with_features={"subscriber": [FEATURE]})
    events = await h.subscribe(sub, topic, "subscriber")
    bad = await h.join(args.url, args.realm, args.publisher_serializer, "publisher without the feature")
    expect(getattr(bad._session_roles["publisher"], FEATURE, None) is None, "the publisher announces the feature")
    bad_raw = h.record_raw_incoming(bad)
    h.inject_options(bad, message.Publish, **PUBLISH_PPT)
    pending = bad.publish(topic, blob(b"event"), options=PublishOptions(acknowledge=True))
    await expect_aborted(bad, bad_raw, "ppt PUBLISH from a publisher without the feature")
    if asyncio.isfuture(pending):
        pending.cancel()

    # fence: a later event is the first one the subscriber gets
    good = await h.join(args.url, args.realm, args.publisher_serializer, "publisher")
    await asyncio.wait_for(good.publish(topic, "fence", options=PublishOptions(acknowledge=True)), 5)
    got_args, _, _ = await events.next()
    expect_eq(got_args, ["fence"], "first EVENT the subscriber got")
    events.expect_none("after the fence")
    step("the ppt PUBLISH was not delivered")
    await h.leave(good, sub)


async def callee_not_announced(args):
    from autobahn.wamp import message

    proc = h.unique("com.interop.ppt")
    callee_s = await h.join(args.url, args.realm, args.callee_serializer, "callee without the feature")
    expect(getattr(callee_s._session_roles["callee"], FEATURE, None) is None, "the callee announces the feature")
    callee = Callee(callee_s, "plain")
    await callee.register(proc)
    caller = await h.join(args.url, args.realm, args.caller_serializer, "caller",
                          with_features={"caller": [FEATURE]})
    h.inject_options(caller, message.Call, **CALL_PPT)
    await h.expect_error(caller.call(proc, blob(b"call")), "wamp.error.feature_not_supported",
                         "ppt CALL to a callee without the feature")
    step("caller got wamp.error.feature_not_supported")

    # fence: the caller is still joined, a plain CALL reaches the callee, the ppt CALL never did
    expect(caller.is_attached(), "caller's session ended after the ERROR")
    expect_eq(await asyncio.wait_for(caller.call(proc, "fence"), 5), "plain", "fence call result")
    expect_eq(callee.calls, [(["fence"], {})], "invocations the callee got")
    step("callee was never invoked by the ppt CALL")
    await h.leave(caller, callee_s)


async def main(args):
    if args.case in ("rpc", "rpc_error"):
        await rpc(args, fails=args.case == "rpc_error")
    elif args.case == "pubsub":
        await pubsub(args)
    else:
        await globals()[args.case](args)


if __name__ == "__main__":
    h.run(main, h.parse_args(__doc__.splitlines()[0], options))
