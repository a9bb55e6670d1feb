"""Plumbing shared by the interop scenario scripts; not part of any scenario.

Every script in this directory is a standalone Autobahn|Python program:

    python <script>.py --url ws://127.0.0.1:8080/ws [--rs-url rs://127.0.0.1:8080] [--realm realm1]

(defaults come from WAMP_ROUTER_URL, WAMP_ROUTER_RAWSOCKET_URL and WAMP_REALM; without
either RawSocket URL, RawSocket is assumed on the WebSocket URL's port, as Switchboard
serves it). It exits 0
when the behaviour it checks held, and otherwise prints one line starting with ``FAIL:``
to stderr and exits non-zero. A watchdog thread ends it (exit 2) if it runs longer than
``--timeout`` seconds, naming the last step it reached, so no script can hang.

This module deliberately imports no Autobahn flavour at import time: txaio binds a
process to either asyncio or Twisted, and the scripts pick one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import threading
import traceback

DEFAULT_URL = "ws://127.0.0.1:8080/ws"
DEFAULT_REALM = "realm1"
DEFAULT_TIMEOUT = 30.0

# Exit codes.
EXIT_FAIL = 1
EXIT_TIMEOUT = 2


class Failure(Exception):
    """The behaviour under test did not hold; the message says how."""


_last_step = "starting"


def step(message: str) -> None:
    """Record (and print) progress, so a timeout can say where the script was stuck."""
    global _last_step
    _last_step = message
    print(f"... {message}", flush=True)


def fail(message: str, code: int = EXIT_FAIL) -> None:
    """Print the failure line and end the process at once (safe from any thread)."""
    # sys.__stderr__: Twisted logging may have replaced sys.stderr with a log redirector
    sys.stdout.flush()
    sys.__stderr__.write(f"FAIL: {message}\n")
    sys.__stderr__.flush()
    os._exit(code)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


def typed(value):
    """``value`` with the type of every leaf made explicit, for strict comparison.

    Plain ``==`` would accept a router that turns true into 1, 42 into 42.0 or a
    tuple/list mix-up between serializers; this does not.
    """
    if isinstance(value, (list, tuple)):
        return ("list", [typed(v) for v in value])
    if isinstance(value, dict):
        return ("dict", {k: typed(v) for k, v in value.items()})
    return (type(value).__name__, value)


def expect_eq(actual, expected, what: str) -> None:
    """Equal values *and* equal types, recursively (bool is not int, int is not float)."""
    if typed(actual) != typed(expected):
        raise Failure(f"{what}: expected {expected!r}, got {actual!r}")


def start_watchdog(seconds: float, describe=lambda: f"last step: {_last_step}") -> None:
    def expired():
        fail(f"timed out after {seconds:g}s ({describe()})", EXIT_TIMEOUT)

    timer = threading.Timer(seconds, expired)
    timer.daemon = True
    timer.start()


def unique(prefix: str) -> str:
    """A URI unique to this run, so scenarios never collide on a shared router."""
    return f"{prefix}.{secrets.token_hex(4)}"


def parse_args(description: str, configure=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--url",
        default=os.environ.get("WAMP_ROUTER_URL", DEFAULT_URL),
        help="WebSocket URL of the router (env WAMP_ROUTER_URL)",
    )
    parser.add_argument(
        "--rs-url",
        default=os.environ.get("WAMP_ROUTER_RAWSOCKET_URL"),
        help="RawSocket URL of the router (env WAMP_ROUTER_RAWSOCKET_URL; default: rs:// on the --url port)",
    )
    parser.add_argument(
        "--realm",
        default=os.environ.get("WAMP_REALM", DEFAULT_REALM),
        help="realm to join (env WAMP_REALM)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("INTEROP_SCRIPT_TIMEOUT", DEFAULT_TIMEOUT)),
        help="watchdog: give up after this many seconds",
    )
    if configure is not None:
        configure(parser)
    args = parser.parse_args()
    if not args.rs_url:
        from urllib.parse import urlsplit

        ws = urlsplit(args.url)
        host = f"[{ws.hostname}]" if ":" in (ws.hostname or "") else ws.hostname
        args.rs_url = f"rs://{host}:{ws.port or (443 if ws.scheme == 'wss' else 80)}"
    # run() enforces --timeout on the event loop (and names the last step); the watchdog
    # is the backstop for a loop that is itself stuck
    start_watchdog(args.timeout + 5)
    return args


# --------------------------------------------------------------------------------------
# asyncio: several real Autobahn|Python sessions in one event loop
# --------------------------------------------------------------------------------------

SERIALIZERS = ("json", "msgpack", "cbor")


def _serializer(name: str):
    from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer

    try:
        return {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}[name]()
    except KeyError:
        raise Failure(f"unknown serializer {name!r} (known: {', '.join(SERIALIZERS)})") from None


async def join(url: str, realm: str, serializer: str = "json", name: str = "session", timeout: float = 10.0,
               without_features: dict | None = None, with_features: dict | None = None):
    """Connect a plain autobahn.asyncio.wamp.ApplicationSession and wait until it has joined.

    ``url`` may be ws:// (WebSocket) or rs:// (RawSocket); only ``serializer`` is offered,
    so the session is known to speak it. The returned session carries two extra futures,
    ``left`` (CloseDetails of the session's end) and ``closed`` (transport gone).
    ``without_features`` ({"callee": ["call_canceling"], ...}) leaves those feature flags out
    of the roles the session announces in HELLO (Autobahn's defaults otherwise).
    ``with_features`` ({"caller": ["payload_passthru_mode"], ...}) adds flags (``true``) to
    those roles, also flags Autobahn does not know: Autobahn's HELLO lists every non-None
    attribute of a role's features object, so an extra attribute is announced as is.
    """
    from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession

    loop = asyncio.get_running_loop()
    joined = loop.create_future()
    left = loop.create_future()
    closed = loop.create_future()

    class Session(ApplicationSession):
        def onJoin(self, details):
            if not joined.done():
                joined.set_result(details)

        def onLeave(self, details):
            if not left.done():
                left.set_result(details)
            if not joined.done():
                joined.set_exception(
                    Failure(f"{name}: ended before joining realm {realm!r}: {details.reason} {details.message or ''}")
                )
            return super().onLeave(details)

        def onDisconnect(self):
            if not closed.done():
                closed.set_result(None)
            if not joined.done():
                joined.set_exception(Failure(f"{name}: transport to {url} closed before the session joined"))
            return super().onDisconnect()

    holder = {}

    def make(config):
        session = Session(config)
        if without_features or with_features:
            session._session_roles = _roles(without_features or {}, with_features or {})
        holder["session"] = session
        return session

    runner = ApplicationRunner(url, realm, serializers=[_serializer(serializer)])
    try:
        await asyncio.wait_for(runner.run(make, start_loop=False), timeout)
    except (OSError, asyncio.TimeoutError) as e:
        raise Failure(f"{name}: cannot connect to {url}: {e!r}") from None
    try:
        await asyncio.wait_for(asyncio.shield(joined), timeout)
    except asyncio.TimeoutError:
        raise Failure(f"{name}: no WELCOME from {url} realm {realm!r} within {timeout:g}s") from None

    session = holder["session"]
    negotiated = session._transport._serializer.SERIALIZER_ID  # what the transport really uses
    expect_eq(negotiated, serializer, f"{name}: negotiated serializer")
    session.left = left
    session.closed = closed
    step(f"{name} joined {realm!r} over {url.split(':')[0]}/{serializer} (session {session._session_id})")
    return session


def _roles(without: dict, with_: dict) -> dict:
    """Autobahn's default client roles, minus ``without`` and plus ``with_`` flags."""
    import copy

    from autobahn.wamp.role import DEFAULT_CLIENT_ROLES

    roles = copy.deepcopy(DEFAULT_CLIENT_ROLES)
    for role, features in without.items():
        for feature in features:
            if not hasattr(roles[role], feature):
                raise Failure(f"Autobahn's {role} role has no feature {feature!r}")
            setattr(roles[role], feature, None)
    for role, features in with_.items():
        for feature in features:
            # Hello.marshal() announces every attribute not starting with "_" that is not None
            setattr(roles[role], feature, True)
    return roles


async def leave(*sessions, timeout: float = 5.0) -> None:
    """Leave with GOODBYE and wait for each transport to close."""
    for s in sessions:
        if s.is_attached():
            s.leave()
    for s in sessions:
        try:
            await asyncio.wait_for(asyncio.shield(s.closed), timeout)
        except asyncio.TimeoutError:
            raise Failure(f"transport not closed {timeout:g}s after GOODBYE") from None


def run(main, args: argparse.Namespace) -> None:
    """Run ``main(args)`` in a fresh event loop and turn its outcome into the exit code."""
    import txaio

    txaio.use_asyncio()
    # Autobahn's own log (e.g. an unexpected ERROR from the router) goes to stderr.
    txaio.start_logging(out=sys.stderr, level=os.environ.get("INTEROP_LOG_LEVEL", "warn"))
    try:
        asyncio.run(asyncio.wait_for(main(args), args.timeout))
    except Failure as e:
        fail(str(e))
    except asyncio.TimeoutError:
        fail(f"timed out after {args.timeout:g}s (last step: {_last_step})", EXIT_TIMEOUT)
    except Exception:
        traceback.print_exc()
        fail(f"unexpected exception (last step: {_last_step})")
    print("OK", flush=True)
    sys.stdout.flush()
    os._exit(0)


# --------------------------------------------------------------------------------------
# helpers for the Advanced Profile scenarios
# --------------------------------------------------------------------------------------


class Events:
    """What one subscription delivered, in order: ``(args, kwargs, details)`` per EVENT."""

    def __init__(self, who: str):
        self.who = who
        self.queue: asyncio.Queue = asyncio.Queue()
        self.subscription = None  # autobahn Subscription, set by subscribe()

    def handler(self, *args, details=None, **kwargs):
        self.queue.put_nowait((list(args), kwargs, details))

    async def next(self, timeout: float = 5.0):
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            raise Failure(f"{self.who}: no EVENT within {timeout:g}s (last step: {_last_step})") from None

    def expect_none(self, what: str) -> None:
        """Nothing (more) was delivered; call it after a fence event proved delivery is done."""
        if not self.queue.empty():
            args, kwargs, details = self.queue.get_nowait()
            raise Failure(f"{self.who}: unexpected EVENT {what}: args={args!r} kwargs={kwargs!r} details={details}")


async def subscribe(session, topic: str, who: str, **options) -> Events:
    """Subscribe ``session`` (SubscribeOptions ``options``, details always on) to ``topic``."""
    from autobahn.wamp.types import SubscribeOptions

    events = Events(who)
    events.subscription = await session.subscribe(
        events.handler, topic, options=SubscribeOptions(details_arg="details", **options)
    )
    return events


async def expect_error(awaitable, uri: str, what: str, timeout: float = 5.0):
    """``awaitable`` must fail with an ApplicationError ``uri`` within ``timeout`` seconds;
    returns the error."""
    from autobahn.wamp.exception import ApplicationError

    try:
        result = await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise Failure(f"{what}: no answer within {timeout:g}s (expected ERROR {uri})") from None
    except ApplicationError as e:
        expect_eq(e.error, uri, f"{what}: ERROR uri")
        return e
    raise Failure(f"{what}: expected ERROR {uri}, got result {result!r}")


def inject_options(session, message_class, **extra) -> None:
    """The next ``message_class`` message (autobahn.wamp.message.Call, Publish, Register, ...)
    that ``session`` sends carries the extra Options keys ``extra``.

    For spec options this Autobahn version has no API for (CALL ``disclose_me``, REGISTER
    ``disclose_caller``, PUBLISH ``disclose_me``, the ``ppt_*`` keys of CALL/YIELD/PUBLISH
    and ERROR): the message is built by Autobahn as usual and only its Options dict
    (element 2 of every request message and of YIELD) or, for ERROR, its Details dict
    (element 3) is extended.
    """
    transport = session._transport
    pending = transport.__dict__.setdefault("_interop_inject", [])
    pending.append((message_class, extra))
    if "_interop_send" in transport.__dict__:
        return
    original = transport.send

    def send(msg):
        for i, (cls, options) in enumerate(pending):
            if isinstance(msg, cls):
                del pending[i]
                raw = msg.marshal()
                at = 3 if raw[0] == 8 else 2  # ERROR: [8, type, request, Details, ...]
                raw[at] = {**raw[at], **options}
                obj_serializer = transport._serializer._serializer
                msg._serialized[obj_serializer] = obj_serializer.serialize(raw)
                break
        return original(msg)

    transport._interop_send = original
    transport.send = send


def record_incoming(session) -> list:
    """Every WAMP message ``session`` receives from now on, appended (as Autobahn parsed it)
    to the returned list before Autobahn handles it."""
    seen = []
    handle = session.onMessage

    def on_message(msg):
        seen.append(msg)
        return handle(msg)

    session.onMessage = on_message
    return seen


def record_raw_incoming(session) -> list:
    """Every WAMP message ``session`` receives from now on as the raw list its serializer
    decoded (``[68, request, registration, {...details...}, [args]]``), before Autobahn
    parses it: Autobahn's message classes drop Options/Details keys they do not know
    (e.g. ``ppt_*``), and an ABORT after the session was established never reaches
    ``onLeave`` (Autobahn drops the transport on it), so its reason is only seen here.
    Binary values are ``bytes`` for every serializer (JSON's ``"\\u0000"``+base64 strings
    decoded, as Autobahn decodes them)."""
    seen = []
    obj_serializer = session._transport._serializer._serializer
    unserialize = obj_serializer.unserialize

    def recording(payload):
        msgs = unserialize(payload)
        seen.extend(msgs)
        return msgs

    # an instance attribute: only this session's (transport's) serializer records
    obj_serializer.unserialize = recording
    return seen


async def wait_until(predicate, what: str, timeout: float = 5.0) -> None:
    """Poll ``predicate()`` on the event loop until it is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise Failure(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.005)
