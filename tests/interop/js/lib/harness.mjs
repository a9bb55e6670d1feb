// Plumbing for the Autobahn|JS interop tests (not a test file itself).
//
// Router, as in the Python suite (tests/interop/python/conftest.py):
//   WAMP_ROUTER_URL (+ WAMP_ROUTER_RAWSOCKET_URL)  use that running router;
//   SWITCHBOARD_BIN                                 start `$SWITCHBOARD_BIN start --port 0
//     --bind 127.0.0.1` once per test file, take the URL from the first stdout line with
//     ws://<host>:<port>/ws (RawSocket: rs://<host>:<port>, same port), stop it with SIGTERM
//     after the file's tests and require exit status 0.

import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';

// Autobahn|JS logs every connection close ("connection closed ...", "auto-reconnect
// disabled! ...") with console.warn, bound when the module loads. Load it behind a filter
// that drops just that chatter (INTEROP_VERBOSE=1 keeps it); all its other warnings pass.
const AUTOBAHN_CHATTER = /^(connection closed|auto-reconnect disabled)/;
const realWarn = console.warn;
console.warn = (...args) => {
  if (process.env.INTEROP_VERBOSE || !(typeof args[0] === 'string' && AUTOBAHN_CHATTER.test(args[0]))) {
    realWarn.apply(console, args);
  }
};
const { default: autobahn } = await import('autobahn');
console.warn = realWarn;

export { autobahn };

const START_TIMEOUT_MS = 1000 * Number(process.env.INTEROP_ROUTER_START_TIMEOUT || 30);
const STOP_TIMEOUT_MS = 1000 * Number(process.env.INTEROP_ROUTER_STOP_TIMEOUT || 15);
export const STEP_TIMEOUT_MS = 10_000;

const BANNER_WS_URL = /ws:\/\/([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):([0-9]{1,5})\/ws\b/;

/** Reject with a clear message if `promise` does not settle within `ms`. */
export function withTimeout(promise, what, ms = STEP_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

/** A URI unique to this run, so tests never collide on a shared router. */
export function unique(prefix) {
  return `${prefix}.${randomBytes(4).toString('hex')}`;
}

function startRouter(binary) {
  const logdir = mkdtempSync(join(tmpdir(), 'switchboard-interop-js-'));
  const stdoutLog = createWriteStream(join(logdir, 'router.stdout.log'));
  const stderrLog = createWriteStream(join(logdir, 'router.stderr.log'));
  const child = spawn(binary, ['start', '--port', '0', '--bind', '127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = [];
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.stderr.pipe(stderrLog);
  const describe = () =>
    `router stdout (tail):\n${lines.slice(-40).join('\n')}\nlogs: ${logdir}`;

  const banner = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`router printed no ws:// URL within ${START_TIMEOUT_MS} ms\n${describe()}`)),
      START_TIMEOUT_MS,
    );
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start router ${binary}: ${e.message}`));
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`router exited (code ${code}, signal ${signal}) before printing its URL\n${describe()}`));
    });
    // keeps draining stdout after the banner, so the router never blocks on a full pipe
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      stdoutLog.write(line + '\n');
      const m = BANNER_WS_URL.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[0], rsHost: m[1], rsPort: Number(m[2]) });
      }
    });
  });

  return banner.then(
    ({ url, rsHost, rsPort }) => ({
      url,
      rawsocket: { host: rsHost, port: rsPort },
      external: false,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const { code, signal } = await withTimeout(exited, 'router exit after SIGTERM', STOP_TIMEOUT_MS).catch(
          (e) => {
            child.kill('SIGKILL');
            throw e;
          },
        );
        if (code !== 0) {
          throw new Error(`router exited with code ${code} (signal ${signal}) after SIGTERM, expected 0\n${describe()}`);
        }
      },
    }),
    (e) => {
      child.kill('SIGKILL');
      throw e;
    },
  );
}

/**
 * The router for this test file. Call at module top level; returns an object whose fields
 * (url, rawsocket = {host, port} or null) are filled in by a before() hook.
 */
export function useRouter() {
  const router = { url: null, rawsocket: null };
  let handle = null;
  before(async () => {
    if (process.env.WAMP_ROUTER_URL) {
      router.url = process.env.WAMP_ROUTER_URL;
      const rs = process.env.WAMP_ROUTER_RAWSOCKET_URL;
      const m = rs && /^rs:\/\/([^:/]+):([0-9]+)\/?$/.exec(rs);
      router.rawsocket = m ? { host: m[1], port: Number(m[2]) } : null;
      return;
    }
    const binary = process.env.SWITCHBOARD_BIN;
    if (!binary) {
      throw new Error('no router: set WAMP_ROUTER_URL (+ WAMP_ROUTER_RAWSOCKET_URL) or SWITCHBOARD_BIN');
    }
    handle = await startRouter(binary);
    router.url = handle.url;
    router.rawsocket = handle.rawsocket;
  });
  after(async () => {
    if (handle) await handle.stop();
  });
  return router;
}

export const SERIALIZERS = {
  json: () => new autobahn.serializer.JSONSerializer(),
  msgpack: () => new autobahn.serializer.MsgpackSerializer(),
  cbor: () => new autobahn.serializer.CBORSerializer(),
};

/**
 * Open an Autobahn|JS connection and wait for the session to join. Only `serializer` is
 * offered, and the negotiated WebSocket subprotocol is checked. Resolves to
 * {session, connection, closed} where `closed` resolves with (reason, details) of onclose.
 */
export function connect(router, { realm = 'realm1', serializer = 'json', transport = 'websocket', name = 'session' } = {}) {
  let transportOptions;
  if (transport === 'rawsocket') {
    if (!router.rawsocket) throw new Error('RawSocket address unknown (set WAMP_ROUTER_RAWSOCKET_URL)');
    // Autobahn|JS speaks RawSocket with JSON only
    transportOptions = { type: 'rawsocket', host: router.rawsocket.host, port: router.rawsocket.port };
  } else {
    transportOptions = { type: 'websocket', url: router.url, serializers: [SERIALIZERS[serializer]()] };
  }
  const connection = new autobahn.Connection({
    transports: [transportOptions],
    realm,
    max_retries: 0,
    retry_if_unreachable: false,
    // an autobahn.Error thrown by a test's handler is the point of the test; anything else
    // a handler throws is worth seeing
    on_user_error: (err, message) => {
      if (!(err instanceof autobahn.Error)) console.error(`${name}: ${message}`, err);
    },
  });
  let resolveClosed;
  const closed = new Promise((resolve) => (resolveClosed = resolve));
  const joined = new Promise((resolve, reject) => {
    connection.onopen = (session) => resolve(session);
    connection.onclose = (reason, details) => {
      resolveClosed({ reason, details });
      reject(new Error(`${name}: connection closed before joining ${realm}: ${reason} ${JSON.stringify(details)}`));
      return true; // never reconnect
    };
  });
  connection.open();
  const abandon = (e) => {
    // a connection that never got to WELCOME must not keep the test process alive
    try {
      connection.close();
    } catch {}
    try {
      connection._transport?.close();
    } catch {}
    throw e;
  };
  const where = transport === 'rawsocket' ? `rs://${router.rawsocket.host}:${router.rawsocket.port}` : router.url;
  return withTimeout(joined, `${name} joining ${realm} at ${where}`).catch(abandon).then((session) => {
    const protocol = connection.transport.info.protocol;
    const want = transport === 'rawsocket' ? 'wamp.2.json' : `wamp.2.${serializer}`;
    if (protocol !== want) {
      throw new Error(`${name}: negotiated ${protocol}, expected ${want}`);
    }
    return { session, connection, closed };
  });
}

/** Leave (GOODBYE) and wait for the connection to close. */
export async function close(...peers) {
  for (const p of peers) {
    if (p.connection.isOpen) p.connection.close();
  }
  await withTimeout(Promise.all(peers.map((p) => p.closed)), 'connections closing after GOODBYE');
}

/** A queue of events: push from a handler, await next(). */
export function eventQueue(what) {
  const items = [];
  const waiters = [];
  return {
    push(item) {
      const w = waiters.shift();
      if (w) w(item);
      else items.push(item);
    },
    next(ms = STEP_TIMEOUT_MS) {
      if (items.length) return Promise.resolve(items.shift());
      return withTimeout(new Promise((resolve) => waiters.push(resolve)), `next ${what}`, ms);
    },
    get size() {
      return items.length;
    },
  };
}
