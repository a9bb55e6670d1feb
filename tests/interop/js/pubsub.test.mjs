// PubSub between real Autobahn|JS sessions (npm `autobahn`) via the router under test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { autobahn, close, connect, eventQueue, unique, useRouter, withTimeout } from './lib/harness.mjs';

const router = useRouter();

for (const ser of ['json', 'msgpack', 'cbor']) {
  test(`acknowledged publish is delivered to the subscriber, not the publisher (${ser})`, async () => {
    const subscriber = await connect(router, { serializer: ser, name: 'subscriber' });
    const publisher = await connect(router, { serializer: ser, name: 'publisher' });
    try {
      const topic = unique('com.interop.js.topic');
      const events = eventQueue('event at subscriber');
      const own = eventQueue('event at publisher');
      await withTimeout(subscriber.session.subscribe(topic, (a, kw, d) => events.push([a, kw, d])), 'SUBSCRIBED');
      await withTimeout(publisher.session.subscribe(topic, (a, kw, d) => own.push([a, kw, d])), 'SUBSCRIBED');

      const pub = await withTimeout(
        publisher.session.publish(topic, [1, 'two'], { three: 3 }, { acknowledge: true }),
        'PUBLISHED',
      );
      assert.ok(pub instanceof autobahn.Publication, `acknowledged publish yields a Publication, got ${pub}`);
      assert.ok(Number.isSafeInteger(pub.id) && pub.id >= 1, `publication id ${pub.id}`);
      const [args, kwargs, details] = await events.next();
      assert.deepStrictEqual([args, kwargs], [[1, 'two'], { three: 3 }]);
      assert.equal(details.publication, pub.id, 'EVENT publication id equals PUBLISHED id');

      // exclude_me=false: the publisher now gets its own event, and (events from one
      // publisher arrive in order) the first one it gets is this second publication
      const pub2 = await withTimeout(
        publisher.session.publish(topic, ['second'], {}, { acknowledge: true, exclude_me: false }),
        'PUBLISHED',
      );
      const [ownArgs, , ownDetails] = await own.next();
      assert.deepStrictEqual([ownArgs, ownDetails.publication], [['second'], pub2.id]);
      const [args2] = await events.next();
      assert.deepStrictEqual(args2, ['second']);

      // a burst in order
      for (let i = 0; i < 50; i++) publisher.session.publish(topic, [i]);
      await withTimeout(publisher.session.publish(topic, ['fence'], {}, { acknowledge: true }), 'PUBLISHED');
      const burst = [];
      for (let i = 0; i < 51; i++) burst.push((await events.next())[0]);
      assert.deepStrictEqual(burst, [...Array.from({ length: 50 }, (_, i) => [i]), ['fence']]);
    } finally {
      await close(publisher, subscriber);
    }
  });
}

test('a JSON publication reaches msgpack and cbor subscribers unchanged', async () => {
  const topic = unique('com.interop.js.bridge');
  const peers = {};
  const queues = {};
  try {
    for (const ser of ['json', 'msgpack', 'cbor']) {
      peers[ser] = await connect(router, { serializer: ser, name: `${ser} subscriber` });
      queues[ser] = eventQueue(`event at ${ser} subscriber`);
      await withTimeout(peers[ser].session.subscribe(topic, (a, kw) => queues[ser].push([a, kw])), 'SUBSCRIBED');
    }
    peers.publisher = await connect(router, { serializer: 'json', name: 'json publisher' });
    const args = [42, -1, 3.25, 'ünïcödé ✓', true, false, null, [1, [2, [3]]], { k: 'v' }];
    const kwargs = { text: 'plain', big: 2 ** 53 - 1, nested: { list: [1, 's'], flag: false } };
    await withTimeout(peers.publisher.session.publish(topic, args, kwargs, { acknowledge: true }), 'PUBLISHED');
    for (const ser of ['json', 'msgpack', 'cbor']) {
      assert.deepStrictEqual(await queues[ser].next(), [args, kwargs], `payload at the ${ser} subscriber`);
    }
  } finally {
    await close(...Object.values(peers));
  }
});

test('binary payloads convert between msgpack Buffers and JSON "\\u0000"+base64 strings', async () => {
  // WAMP spec, binary conversion of JSON strings: on JSON, binary travels as a string of
  // "\0" followed by the base64 of the bytes. Autobahn|JS leaves that convention to the
  // application, so a JSON peer sees and sends the raw string.
  const topic = unique('com.interop.js.binary');
  const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff]);
  const asJson = '\u0000' + bytes.toString('base64');
  const json = await connect(router, { serializer: 'json', name: 'json peer' });
  const msgpack = await connect(router, { serializer: 'msgpack', name: 'msgpack peer' });
  try {
    const atJson = eventQueue('event at json peer');
    const atMsgpack = eventQueue('event at msgpack peer');
    await withTimeout(json.session.subscribe(topic, (a, kw) => atJson.push([a, kw])), 'SUBSCRIBED');
    await withTimeout(msgpack.session.subscribe(topic, (a, kw) => atMsgpack.push([a, kw])), 'SUBSCRIBED');

    await withTimeout(msgpack.session.publish(topic, [bytes], { b: bytes }, { acknowledge: true }), 'PUBLISHED');
    assert.deepStrictEqual(await atJson.next(), [[asJson], { b: asJson }], 'msgpack binary as seen over JSON');

    await withTimeout(json.session.publish(topic, [asJson], { b: asJson }, { acknowledge: true }), 'PUBLISHED');
    const [args, kwargs] = await atMsgpack.next();
    assert.ok(Buffer.isBuffer(args[0]), `msgpack peer got ${typeof args[0]} ${JSON.stringify(args[0])}, expected a Buffer`);
    assert.deepStrictEqual([args[0], kwargs.b], [bytes, bytes]);
  } finally {
    await close(json, msgpack);
  }
});
