// RPC between real Autobahn|JS sessions (npm `autobahn`) via the router under test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { autobahn, close, connect, unique, useRouter, withTimeout } from './lib/harness.mjs';

const router = useRouter();

const prefixed = (kwargs) => Object.fromEntries(Object.entries(kwargs).map(([k, v]) => [`got_${k}`, v]));

// [callee, caller]: same serializer, and translation in several directions
const PAIRS = [
  ['json', 'json'],
  ['msgpack', 'msgpack'],
  ['cbor', 'cbor'],
  ['json', 'msgpack'],
  ['msgpack', 'cbor'],
  ['cbor', 'json'],
];

for (const [calleeSer, callerSer] of PAIRS) {
  test(`register and call with args and kwargs (callee ${calleeSer}, caller ${callerSer})`, async () => {
    const callee = await connect(router, { serializer: calleeSer, name: 'callee' });
    const caller = await connect(router, { serializer: callerSer, name: 'caller' });
    try {
      const echo = unique('com.interop.js.echo');
      const add = unique('com.interop.js.add');
      const invocations = [];
      await withTimeout(
        callee.session.register(echo, (args, kwargs) => {
          invocations.push([args, kwargs]);
          // transformed, so a router echoing the CALL instead of routing the YIELD is caught
          return new autobahn.Result([...args].reverse(), { count: args.length, ...prefixed(kwargs) });
        }),
        `REGISTERED ${echo}`,
      );
      await withTimeout(callee.session.register(add, (args) => args[0] + args[1]), `REGISTERED ${add}`);

      const args = [1, 'two', 3.5, [4, 'four'], { five: 5 }, null, true, false, -7, 2 ** 53 - 1, 'ünïcödé ✓'];
      const kwargs = { a: 1, b: 'bee', nested: { list: [1, 2, { x: null }], flag: true } };
      const res = await withTimeout(caller.session.call(echo, args, kwargs), `RESULT of ${echo}`);
      assert.ok(res instanceof autobahn.Result, `a call returning args+kwargs yields a Result, got ${JSON.stringify(res)}`);
      assert.deepStrictEqual(res.args, [...args].reverse());
      assert.deepStrictEqual(res.kwargs, { count: args.length, ...prefixed(kwargs) });
      assert.deepStrictEqual(invocations, [[args, kwargs]]);

      // kwargs only
      const kwOnly = await withTimeout(caller.session.call(echo, [], { only: 'kw' }), `RESULT of ${echo}`);
      assert.deepStrictEqual([kwOnly.args, kwOnly.kwargs], [[], { count: 0, got_only: 'kw' }]);

      // a plain single return value
      assert.equal(await withTimeout(caller.session.call(add, [2, 3]), `RESULT of ${add}`), 5);
      assert.equal(await withTimeout(caller.session.call(add, [0.25, 0.5]), `RESULT of ${add}`), 0.75);
    } finally {
      await close(caller, callee);
    }
  });
}

test('binary args survive msgpack <-> cbor translation', async () => {
  const callee = await connect(router, { serializer: 'msgpack', name: 'callee' });
  const caller = await connect(router, { serializer: 'cbor', name: 'caller' });
  try {
    const proc = unique('com.interop.js.bytes');
    let seen;
    await withTimeout(
      callee.session.register(proc, (args, kwargs) => {
        seen = [args, kwargs];
        return new autobahn.Result([Buffer.concat([args[0], Buffer.from([0xff])])], { blob: kwargs.blob });
      }),
      'REGISTERED',
    );
    const blob = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const res = await withTimeout(caller.session.call(proc, [Buffer.from([0, 1, 2])], { blob }), 'RESULT');
    assert.ok(Buffer.isBuffer(seen[0][0]), `callee got ${seen[0][0]?.constructor?.name}, expected Buffer`);
    assert.deepStrictEqual(seen[0][0], Buffer.from([0, 1, 2]));
    assert.deepStrictEqual(seen[1].blob, blob);
    assert.deepStrictEqual(Buffer.from(res.args[0]), Buffer.from([0, 1, 2, 0xff]));
    assert.deepStrictEqual(Buffer.from(res.kwargs.blob), blob);
  } finally {
    await close(caller, callee);
  }
});

for (const ser of ['json', 'msgpack', 'cbor']) {
  test(`application error reaches the caller with URI, args and kwargs (${ser})`, async () => {
    const callee = await connect(router, { serializer: ser, name: 'callee' });
    const caller = await connect(router, { serializer: ser, name: 'caller' });
    try {
      const proc = unique('com.interop.js.raiser');
      await withTimeout(
        callee.session.register(proc, () => {
          throw new autobahn.Error('com.example.error.custom', [1, 2], { foo: 'bar' });
        }),
        'REGISTERED',
      );
      await assert.rejects(withTimeout(caller.session.call(proc), 'ERROR'), (err) => {
        assert.ok(err instanceof autobahn.Error, `rejected with ${err}`);
        assert.equal(err.error, 'com.example.error.custom');
        assert.deepStrictEqual(err.args, [1, 2]);
        assert.deepStrictEqual(err.kwargs, { foo: 'bar' });
        return true;
      });
    } finally {
      await close(caller, callee);
    }
  });
}

test('calling a procedure nobody registered fails with wamp.error.no_such_procedure', async () => {
  const caller = await connect(router, { serializer: 'json', name: 'caller' });
  try {
    await assert.rejects(
      withTimeout(caller.session.call(unique('com.interop.js.nobody'), [1]), 'ERROR'),
      (err) => err instanceof autobahn.Error && err.error === 'wamp.error.no_such_procedure',
    );
  } finally {
    await close(caller);
  }
});
