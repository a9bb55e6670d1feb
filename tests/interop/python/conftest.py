"""Fixtures for the interop tests: a router to talk to, and the scenario scripts to run.

Router, in order of precedence:

* ``WAMP_ROUTER_URL`` (e.g. ws://127.0.0.1:8080/ws) and ``WAMP_ROUTER_RAWSOCKET_URL``
  (e.g. rs://127.0.0.1:8081): use that already-running router (how the suite is validated
  against Crossbar.io). It is neither started nor stopped.
* ``SWITCHBOARD_BIN``: start ``$SWITCHBOARD_BIN start --port 0 --bind 127.0.0.1`` once per
  test module (see ``RouterProcess`` for the stdout contract) and stop it with SIGTERM at
  the end of the module, asserting exit status 0. A test module that defines
  ``ROUTER_CONFIG`` (TOML text) gets a router started with ``--config`` on a file holding
  that text instead; with ``WAMP_ROUTER_URL`` such a module is skipped (that router's
  configuration is not ours to choose).

The tests themselves run real Autobahn|Python programs from ``scripts/`` as subprocesses
of this interpreter (the interop venv's python).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"
EXAMPLES = SCRIPTS / "examples"

ROUTER_START_TIMEOUT = float(os.environ.get("INTEROP_ROUTER_START_TIMEOUT", 30))
ROUTER_STOP_TIMEOUT = float(os.environ.get("INTEROP_ROUTER_STOP_TIMEOUT", 15))
SCRIPT_TIMEOUT = float(os.environ.get("INTEROP_SCRIPT_TIMEOUT", 30))
# the subprocess guard sits above the scripts' own watchdogs
PROCESS_TIMEOUT = SCRIPT_TIMEOUT + 15

# The banner line the harness waits for: "ws://<host>:<port>/ws" anywhere in a stdout line.
BANNER_WS_URL = re.compile(r"ws://(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>[0-9]{1,5})/ws\b")


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


class OutputCollector:
    """Drains a pipe on a thread (so the child never blocks on a full pipe) and lets the
    test wait for a line."""

    def __init__(self, pipe, name: str, sink: Path | None = None):
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._closed = False
        self._sink = open(sink, "w", encoding="utf-8") if sink else None
        self._thread = threading.Thread(target=self._drain, args=(pipe,), name=f"drain-{name}", daemon=True)
        self._thread.start()

    def _drain(self, pipe):
        for line in iter(pipe.readline, ""):
            if self._sink:
                self._sink.write(line)
                self._sink.flush()
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._sink:
            self._sink.close()

    def wait_for(self, predicate, timeout: float, alive=lambda: True):
        """First line for which ``predicate(line)`` is truthy; its result, or None on
        timeout / end of output."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                while seen < len(self.lines):
                    hit = predicate(self.lines[seen])
                    seen += 1
                    if hit:
                        return hit
                if self._closed or not alive():
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, 0.2))

    def join(self, timeout: float = 5):
        self._thread.join(timeout)

    def text(self) -> str:
        with self._cond:
            return "\n".join(self.lines)


# ----------------------------------------------------------------------------------------
# known deviations of the reference router
# ----------------------------------------------------------------------------------------
#
# A test marked @pytest.mark.deviates_in_crossbar("why") checks behaviour that the spec (or
# our router's contract) requires and Crossbar.io does not do. With INTEROP_ROUTER=crossbar
# (set when validating the suite against Crossbar) such a test is an expected failure
# (strict: it is reported if Crossbar ever starts passing it); otherwise it is a normal test.


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "deviates_in_crossbar(reason): required behaviour that Crossbar.io is known not to have"
    )


def pytest_collection_modifyitems(config, items):
    if os.environ.get("INTEROP_ROUTER", "").lower() != "crossbar":
        return
    for item in items:
        marker = item.get_closest_marker("deviates_in_crossbar")
        if marker:
            reason = marker.args[0] if marker.args else "known Crossbar deviation"
            item.add_marker(pytest.mark.xfail(reason=f"INTEROP_ROUTER=crossbar: {reason}", strict=True))


@dataclass
class Router:
    url: str  # ws://host:port/ws
    rs_url: str | None  # rs://host:port
    process: "RouterProcess | None" = None  # None: external router, not ours to stop

    def need_rawsocket(self) -> str:
        if not self.rs_url:
            pytest.fail("RawSocket URL unknown: WAMP_ROUTER_URL is set but WAMP_ROUTER_RAWSOCKET_URL is not")
        return self.rs_url

    def log(self) -> str:
        return self.process.log() if self.process else "(external router: no log)"


class RouterProcess:
    """A Switchboard router started by the tests.

    Contract with the binary: ``$SWITCHBOARD_BIN start --port 0 --bind 127.0.0.1`` prints a
    banner on stdout; the first stdout line containing ``ws://<host>:<port>/ws`` gives the
    WebSocket URL (and the OS-assigned port). RawSocket is served on the same port, so the
    RawSocket URL is ``rs://<host>:<port>`` (the banner's ``rs://`` line is informational).
    Stdout keeps being drained after that; stdout and stderr go to files in ``logdir``.
    On SIGTERM the router closes sessions with GOODBYE and exits with status 0.
    """

    def __init__(self, binary: str, logdir: Path, config: str | None = None):
        self.binary = binary
        self.logdir = logdir
        self.cmd = [binary, "start", "--port", "0", "--bind", "127.0.0.1"]
        if config is not None:
            # --port/--bind override the first [[listen]] of the config
            config_path = logdir / "switchboard.toml"
            config_path.write_text(config, encoding="utf-8")
            self.cmd += ["--config", str(config_path)]
        self.stdout_path = logdir / "router.stdout.log"
        self.stderr_path = logdir / "router.stderr.log"
        self._stderr = open(self.stderr_path, "w", encoding="utf-8")
        try:
            self.popen = subprocess.Popen(
                self.cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
            )
        except OSError as e:
            self._stderr.close()
            pytest.fail(f"cannot start router {self.cmd}: {e}")
        self.stdout = OutputCollector(self.popen.stdout, "router", self.stdout_path)
        match = self.stdout.wait_for(
            BANNER_WS_URL.search, ROUTER_START_TIMEOUT, alive=lambda: self.popen.poll() is None
        )
        if not match:
            status = self.popen.poll()
            why = f"exited with status {status}" if status is not None else f"printed no ws:// URL within {ROUTER_START_TIMEOUT:g}s"
            self.kill()
            pytest.fail(f"router {' '.join(self.cmd)} {why}\n{self.log()}")
        self.url = match.group(0)
        host, port = match.group("host"), match.group("port")
        self.rs_url = f"rs://{host}:{port}"

    def log(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        err = self.stderr_path.read_text(encoding="utf-8", errors="replace") if self.stderr_path.exists() else ""
        return (
            f"--- router stdout (tail; full: {self.stdout_path}) ---\n{tail(self.stdout.text())}\n"
            f"--- router stderr (tail; full: {self.stderr_path}) ---\n{tail(err)}"
        )

    def terminate(self) -> int:
        """SIGTERM, then wait; returns the exit status (fails the test if it hangs)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            status = self.popen.wait(ROUTER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"router did not exit within {ROUTER_STOP_TIMEOUT:g}s of SIGTERM\n{self.log()}")
        self.stdout.join()
        self._stderr.close()
        return status

    def kill(self):
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


def start_router(logdir: Path, config: str | None = None) -> Router:
    """Start ``$SWITCHBOARD_BIN`` (with ``config``, TOML text, as its --config file if given)."""
    binary = os.environ.get("SWITCHBOARD_BIN")
    if not binary:
        pytest.fail(
            "no router: set WAMP_ROUTER_URL (+ WAMP_ROUTER_RAWSOCKET_URL) to use a running "
            "router, or SWITCHBOARD_BIN to the switchboard binary (tests/interop/run does this)"
        )
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(f"SWITCHBOARD_BIN={binary!r} is not an executable file")
    process = RouterProcess(binary, logdir, config)
    return Router(process.url, process.rs_url, process)


def stop_router(router: Router):
    status = router.process.terminate()
    if status != 0:
        pytest.fail(f"router exited with status {status} after SIGTERM (expected 0)\n{router.log()}")


def external_router() -> Router | None:
    url = os.environ.get("WAMP_ROUTER_URL")
    if not url:
        return None
    return Router(url, os.environ.get("WAMP_ROUTER_RAWSOCKET_URL") or None)


@pytest.fixture(scope="module")
def router(tmp_path_factory, request):
    """The router under test, one per test module; started with the module's
    ``ROUTER_CONFIG`` (TOML text) as its --config file if the module defines one."""
    config = getattr(request.module, "ROUTER_CONFIG", None)
    external = external_router()
    if external:
        if config is not None:
            pytest.skip("needs a router started with this module's ROUTER_CONFIG; WAMP_ROUTER_URL is set")
        yield external
        return
    router = start_router(tmp_path_factory.mktemp(f"router-{request.module.__name__}"), config)
    try:
        yield router
    finally:
        stop_router(router)


# examples/auth.toml: one principal per authentication method, roles `user` and `anonymous`
AUTH_CONFIG = HERE.parent.parent.parent / "examples" / "auth.toml"


@pytest.fixture(scope="module")
def auth_router(tmp_path_factory, request):
    """Our router with examples/auth.toml as its config (``start --config <copy of
    examples/auth.toml> --port 0``), one per test module.

    Only our own binary has that configuration, so with ``WAMP_ROUTER_URL`` (an external
    router) the tests using it are skipped.
    """
    if external_router():
        pytest.skip("WAMP_ROUTER_URL is set: the auth tests need switchboard with examples/auth.toml")
    router = start_router(
        tmp_path_factory.mktemp(f"auth-router-{request.module.__name__}"),
        AUTH_CONFIG.read_text(encoding="utf-8"),
    )
    try:
        yield router
    finally:
        stop_router(router)


@pytest.fixture
def auth_scripts(auth_router):
    s = Scripts(auth_router)
    yield s
    s.cleanup()


# ----------------------------------------------------------------------------------------
# running the scenario scripts
# ----------------------------------------------------------------------------------------


def child_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["INTEROP_SCRIPT_TIMEOUT"] = str(SCRIPT_TIMEOUT)
    env.update(extra or {})
    return env


def describe(cmd, status, stdout, stderr) -> str:
    return (
        f"$ {' '.join(map(str, cmd))}\nexit status: {status}\n"
        f"--- stdout ---\n{tail(stdout or '', 60)}\n--- stderr ---\n{tail(stderr or '', 60)}"
    )


class Background:
    """A scenario script running alongside the test (a callee, a subscriber, ...)."""

    def __init__(self, cmd, env, name):
        self.cmd = cmd
        self.name = name
        self.popen = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding="utf-8", errors="replace", bufsize=1,
        )
        self.out = OutputCollector(self.popen.stdout, name)
        self.err = OutputCollector(self.popen.stderr, name + "-stderr")

    def describe(self) -> str:
        return describe(self.cmd, self.popen.poll(), self.out.text(), self.err.text())

    def wait_for_line(self, text: str, timeout: float = SCRIPT_TIMEOUT) -> str:
        """Wait until a stdout line contains ``text`` (fails the test otherwise)."""
        line = self.out.wait_for(lambda l: l if text in l else None, timeout, alive=lambda: self.popen.poll() is None)
        if line is None:
            # the line may have raced the exit
            line = next((l for l in self.out.lines if text in l), None)
        if line is None:
            self.kill()
            pytest.fail(f"{self.name}: never printed {text!r}\n{self.describe()}")
        return line

    def wait(self, timeout: float = PROCESS_TIMEOUT) -> int:
        try:
            status = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name}: still running after {timeout:g}s\n{self.describe()}")
        self.out.join()
        self.err.join()
        return status

    def expect_success(self, timeout: float = PROCESS_TIMEOUT):
        status = self.wait(timeout)
        if status != 0:
            pytest.fail(f"{self.name} failed\n{self.describe()}")

    def stop(self, timeout: float = 15):
        """SIGTERM (what a user's Ctrl+C/kill does) and require a clean exit 0."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        self.expect_success(timeout)

    def kill(self):
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


class Scripts:
    """Runs ``scripts/*.py`` against ``router`` with this interpreter."""

    def __init__(self, router: Router):
        self.router = router
        self._background: list[Background] = []

    def _scenario_cmd(self, script, args, realm):
        cmd = [sys.executable, "-u", str(SCRIPTS / script), "--url", self.router.url, "--realm", realm]
        if self.router.rs_url:
            cmd += ["--rs-url", self.router.rs_url]
        return cmd + [str(a) for a in args]

    def run(self, script: str, *args, realm: str = "realm1", timeout: float = PROCESS_TIMEOUT) -> str:
        """Run a scenario script to completion; it must exit 0. Returns its stdout."""
        return self._run(self._scenario_cmd(script, args, realm), child_env(), timeout)

    def start(self, script: str, *args, realm: str = "realm1") -> Background:
        return self._start(self._scenario_cmd(script, args, realm), child_env(), script)

    def _example_cmd(self, example, example_args, expect, fail_on, strict, then, extra):
        cmd = [sys.executable, "-u", str(SCRIPTS / "run_example.py"), "--timeout", str(SCRIPT_TIMEOUT), "--then", then]
        for line in expect:
            cmd += ["--expect", line]
        for prefix in fail_on:
            cmd += ["--fail-on", prefix]
        if strict:
            cmd += ["--strict", strict]
        return cmd + list(extra) + ["--", str(EXAMPLES / example)] + [str(a) for a in example_args]

    def run_example(self, example, *example_args, expect=(), fail_on=(), strict=None, env=None, extra=(),
                    timeout: float = PROCESS_TIMEOUT) -> str:
        """Run an unchanged example until it printed ``expect`` (in order), then stop it."""
        cmd = self._example_cmd(example, example_args, expect, fail_on, strict, "stop", extra)
        return self._run(cmd, child_env(env), timeout)

    def start_example(self, example, *example_args, expect=(), fail_on=(), strict=None, env=None, extra=(),
                      then="serve") -> Background:
        cmd = self._example_cmd(example, example_args, expect, fail_on, strict, then, extra)
        return self._start(cmd, child_env(env), example)

    def _run(self, cmd, env, timeout) -> str:
        try:
            done = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  encoding="utf-8", errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
            err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
            pytest.fail(f"still running after {timeout:g}s (killed)\n{describe(cmd, None, out, err)}\n{self.router.log()}")
        if done.returncode != 0:
            pytest.fail(f"{describe(cmd, done.returncode, done.stdout, done.stderr)}\n{self.router.log()}")
        return done.stdout

    def _start(self, cmd, env, name) -> Background:
        bg = Background(cmd, env, name)
        self._background.append(bg)
        return bg

    def cleanup(self):
        for bg in self._background:
            bg.kill()


@pytest.fixture
def scripts(router):
    s = Scripts(router)
    yield s
    s.cleanup()
