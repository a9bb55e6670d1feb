// Autobahn|JS over RawSocket (it speaks RawSocket with JSON only), with a WebSocket peer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { autobahn, close, connect, eventQueue, unique, useRouter, withTimeout } from './lib/harness.mjs';

const router = useRouter();

test('rawsocket (json) session calls and publishes to a websocket (msgpack) session', async () => {
  const rs = await connect(router, { transport: 'rawsocket', name: 'rawsocket session' });
  const ws = await connect(router, { serializer: 'msgpack', name: 'websocket session' });
  try {
    const proc = unique('com.interop.js.rs.proc');
    const topic = unique('com.interop.js.rs.topic');
    await withTimeout(ws.session.register(proc, (args, kwargs) => new autobahn.Result(args, kwargs)), 'REGISTERED');
    const res = await withTimeout(rs.session.call(proc, [1, 'two'], { three: 3 }), 'RESULT');
    assert.deepStrictEqual([res.args, res.kwargs], [[1, 'two'], { three: 3 }]);

    await withTimeout(rs.session.register(`${proc}.rs`, (args) => args[0] * 2), 'REGISTERED');
    assert.equal(await withTimeout(ws.session.call(`${proc}.rs`, [21]), 'RESULT'), 42);

    const atWs = eventQueue('event at websocket session');
    const atRs = eventQueue('event at rawsocket session');
    await withTimeout(ws.session.subscribe(topic, (a, kw) => atWs.push([a, kw])), 'SUBSCRIBED');
    await withTimeout(rs.session.subscribe(topic, (a, kw) => atRs.push([a, kw])), 'SUBSCRIBED');
    await withTimeout(rs.session.publish(topic, ['from rs'], { n: 1 }, { acknowledge: true }), 'PUBLISHED');
    assert.deepStrictEqual(await atWs.next(), [['from rs'], { n: 1 }]);
    await withTimeout(ws.session.publish(topic, ['from ws'], { n: 2 }, { acknowledge: true }), 'PUBLISHED');
    assert.deepStrictEqual(await atRs.next(), [['from ws'], { n: 2 }]);
  } finally {
    await close(rs, ws);
  }
});
