#!/usr/bin/env python3
"""Run an unchanged quick-start example (examples/*.py) and judge it by what it prints.

The examples are copies of documentation code: they print progress and never exit on
their own. This wrapper runs one in-process as ``__main__`` (``runpy``), watches its stdout
and turns it into a verdict without touching the example's code:

  --expect LINE       a line the example must print; several are expected in order
                      (other lines may come in between)
  --strict PREFIX     every printed line starting with PREFIX must be the next --expect
                      line, so e.g. a missing or reordered event fails at once
  --fail-on PREFIX    a printed line starting with PREFIX fails at once
  --then stop|serve   once every --expect line was seen: stop the example (leave the
                      session, exit 0) or keep serving until SIGTERM/SIGINT (default: stop)
  --sleep-scale F     multiply autobahn.twisted.util.sleep delays by F (for examples
                      that pace themselves with sleep(1))
  --timeout S         watchdog: fail (exit 2) after S seconds, listing what is missing
  --announce-registration URI
                      for examples that register without printing anything: once the
                      example's session holds a registration of URI (i.e. the router
                      answered REGISTERED), print "[harness] registered URI"

    python run_example.py --expect "call result: 5" --fail-on "call error" -- \
        examples/seed003_add2_caller.py ws://127.0.0.1:8080/ws realm1

Exit status: 0 if every expected line was seen and nothing failed, 1 on failure, 2 on
timeout. The example's own output passes through unchanged.
"""

import argparse
import gc
import os
import re
import runpy
import signal
import sys
import threading
import traceback

import _harness as h

TWISTED_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d{4}|Z) ")


class Verdict:
    """Tees stdout; checks printed lines against the expectations."""

    def __init__(self, stream, expect, strict, fail_on, on_done):
        self._stream = stream
        self._buf = ""
        self._lock = threading.Lock()
        self.expect = list(expect)
        self.pos = 0
        self.strict = strict
        self.fail_on = fail_on
        self.on_done = on_done
        self.failure = None
        self.done = not self.expect

    # -- file interface -------------------------------------------------------------
    def write(self, text):
        n = self._stream.write(text)
        self._stream.flush()
        with self._lock:
            self._buf += text
            lines = self._buf.split("\n")
            self._buf = lines.pop()
        for line in lines:
            self._check(line.rstrip("\r"))
        return n

    def flush(self):
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)

    # -- checks ---------------------------------------------------------------------
    def missing(self):
        return self.expect[self.pos:]

    def _check(self, line):
        if self.failure or self.done:
            return
        # Twisted examples: ApplicationRunner starts Twisted logging, which turns print()
        # into log events written as "<timestamp> <text>"; judge the text.
        line = TWISTED_LOG_PREFIX.sub("", line, count=1)
        for prefix in self.fail_on:
            if line.startswith(prefix):
                self._fail(f"example printed {line!r}")
                return
        if self.pos < len(self.expect) and line == self.expect[self.pos]:
            self.pos += 1
            if self.pos == len(self.expect):
                self.done = True
                self.on_done()
        elif self.strict and line.startswith(self.strict):
            self._fail(f"example printed {line!r} where {self.expect[self.pos]!r} was expected next")

    def _fail(self, message):
        self.failure = message
        self.on_done()


def stop_example():
    """Stop the running example gracefully (its session leaves with GOODBYE)."""
    if "twisted.internet.reactor" in sys.modules:
        from twisted.internet import reactor

        if reactor.running:
            reactor.callLater(0, reactor.stop)
        return
    # asyncio flavour: the examples use autobahn.asyncio.component.run(); stopping every
    # Component makes its session leave, after which run() returns.
    from autobahn.wamp.component import Component

    for obj in gc.get_objects():
        if isinstance(obj, Component):
            obj.stop()


def announce_registration(uri, stream, interval=0.05):
    """Poll the example's Autobahn sessions (read-only) until one holds a registration of
    ``uri``, then print the marker line the test waits for."""
    # No autobahn import here: this thread starts while the example itself is importing
    # autobahn, so sessions are recognised by class name instead.
    def is_session(obj):
        return any(c.__name__ == "ApplicationSession" for c in type(obj).__mro__)

    def registered():
        for obj in gc.get_objects():
            if is_session(obj):
                regs = getattr(obj, "_registrations", None) or {}
                if any(getattr(r, "procedure", None) == uri for r in list(regs.values())):
                    return True
        return False

    def poll():
        stop = threading.Event()
        while not stop.wait(interval):
            try:
                if registered():
                    break
            except RuntimeError:  # a dict changed size while we looked; look again
                continue
        stream.write(f"[harness] registered {uri}\n")
        stream.flush()

    threading.Thread(target=poll, daemon=True).start()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expect", action="append", default=[])
    parser.add_argument("--strict")
    parser.add_argument("--fail-on", action="append", default=[])
    parser.add_argument("--then", choices=("stop", "serve"), default="stop")
    parser.add_argument("--sleep-scale", type=float)
    parser.add_argument("--announce-registration", metavar="URI")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("INTEROP_SCRIPT_TIMEOUT", 30)))
    parser.add_argument("example")
    parser.add_argument("example_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()

    def on_done():
        if verdict.failure or args.then == "stop":
            stop_example()

    verdict = Verdict(sys.stdout, args.expect, args.strict, args.fail_on, on_done)
    sys.stdout = verdict
    h.start_watchdog(args.timeout, lambda: f"expected output not seen: {verdict.missing()!r}")

    if args.announce_registration:
        announce_registration(args.announce_registration, verdict._stream)

    if args.sleep_scale is not None:
        import autobahn.twisted.util as twisted_util

        real_sleep = twisted_util.sleep
        twisted_util.sleep = lambda delay, *a, **kw: real_sleep(delay * args.sleep_scale, *a, **kw)

    # the example runs as if started directly: `python examples/x.py ARGS...`
    sys.argv = [args.example] + args.example_args
    sys.path.insert(0, os.path.dirname(os.path.abspath(args.example)))
    try:
        runpy.run_path(args.example, run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0) and not verdict.failure:
            verdict.failure = f"example exited with status {e.code!r}"
    except BaseException:
        traceback.print_exc()
        if not verdict.failure:
            verdict.failure = "example raised an exception (traceback above)"

    sys.stdout = verdict._stream
    if verdict.failure:
        h.fail(verdict.failure)
    if not verdict.done:
        h.fail(f"example ended before printing {verdict.missing()!r}")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()
