// Interop client for edgepush built on npm's ws 8.x, which fails the
// connection on any framing or protocol violation by the server.
//
//   node client.js ws://127.0.0.1:PORT http://127.0.0.1:APIPORT
//
// The server must run with -echo. Exits 0 and prints "node ws: OK" when every
// check passes; otherwise prints what failed and exits 1.
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const WebSocket = require('ws');

const [wsBase, apiBase] = process.argv.slice(2);
if (!wsBase || !apiBase) {
  console.error('usage: node client.js ws://host:port http://host:apiport');
  process.exit(2);
}

const STEP_MS = 20000; // per awaited event; generous for a busy machine
const APP = 'interop';
const ID = 'node-1';

let step = 'start';
function log(msg) {
  console.log(`node ws: ${msg}`);
}

// Wraps a WebSocket so that messages are queued and can be awaited in order.
function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 8 << 20 });
    const queue = [];
    const waiters = [];
    let closed = null;
    ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      if (waiters.length) waiters.shift().resolve(m);
      else queue.push(m);
    });
    ws.on('close', (code, reason) => {
      closed = { code, reason: reason.toString() };
      while (waiters.length) waiters.shift().reject(new Error(`connection closed: ${code} ${closed.reason}`));
    });
    ws.on('error', (err) => {
      // ws reports server protocol violations here, then closes.
      console.error(`node ws: ${url}: error during "${step}": ${err.message}`);
      process.exitCode = 1;
    });
    ws.once('open', () => {
      resolve({
        ws,
        next(what) {
          if (queue.length) return Promise.resolve(queue.shift());
          if (closed) return Promise.reject(new Error(`connection closed: ${closed.code} ${closed.reason}`));
          return new Promise((res, rej) => {
            const w = { resolve: res, reject: rej };
            const timer = setTimeout(() => {
              const i = waiters.indexOf(w);
              if (i >= 0) waiters.splice(i, 1);
              rej(new Error(`timed out after ${STEP_MS} ms waiting for ${what}`));
            }, STEP_MS);
            w.resolve = (m) => { clearTimeout(timer); res(m); };
            w.reject = (e) => { clearTimeout(timer); rej(e); };
            waiters.push(w);
          });
        },
        closeAndWait(code) {
          return new Promise((res, rej) => {
            const timer = setTimeout(() => rej(new Error('timed out waiting for the closing handshake')), STEP_MS);
            const done = () => { clearTimeout(timer); res(closed); };
            if (closed) return done();
            ws.once('close', () => setImmediate(done));
            ws.close(code);
          });
        },
      });
    });
    ws.once('error', reject);
  });
}

async function publish(contentType, body) {
  const url = `${apiBase}/v1/publish?app=${encodeURIComponent(APP)}&id=${encodeURIComponent(ID)}`;
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': contentType }, body });
  const text = await res.text();
  assert.equal(res.status, 200, `publish ${contentType}: HTTP ${res.status}: ${text}`);
  let r;
  try {
    r = JSON.parse(text);
  } catch (e) {
    throw new Error(`publish ${contentType}: answer is not JSON: ${text}`);
  }
  assert.equal(typeof r.seq, 'number', `publish answer has no numeric seq: ${text}`);
  assert.equal(typeof r.delivered, 'number', `publish answer has no numeric delivered: ${text}`);
  return r;
}

async function textJSON(c, what) {
  const m = await c.next(what);
  assert.equal(m.isBinary, false, `${what}: expected a text message, got binary`);
  try {
    return JSON.parse(m.data.toString('utf8'));
  } catch (e) {
    throw new Error(`${what}: not JSON: ${m.data.toString('utf8')}`);
  }
}

function checkTS(ts) {
  assert.equal(typeof ts, 'number', `ts is not a number: ${ts}`);
  // A sanity bound, not a speed check: the push's ts is near the wall clock.
  assert.ok(Math.abs(Date.now() - ts) < 3600e3, `ts ${ts} is more than an hour from now (${Date.now()})`);
}

async function pushes() {
  step = 'connect /ws';
  const c = await open(`${wsBase}/ws`);

  step = 'subscribe';
  c.ws.send(JSON.stringify({ op: 'sub', app: APP, ids: [ID], ref: 'n1' }));
  const ack = await textJSON(c, 'sub ack');
  assert.equal(ack.op, 'ack');
  assert.equal(ack.ref, 'n1');
  assert.equal(ack.keys[ID].seq, 0, 'a key never published is at seq 0');
  assert.equal(typeof ack.keys[ID].epoch, 'string');

  step = 'publish application/json';
  const value = { t: 21.5, s: 'héllo ✓', list: [1, 2, 3], nested: { ok: true } };
  const r1 = await publish('application/json', JSON.stringify(value));
  assert.equal(r1.delivered, 1, `json publish delivered ${r1.delivered}, want 1`);
  const p1 = await textJSON(c, 'text push');
  assert.equal(p1.op, 'data');
  assert.equal(p1.app, APP);
  assert.equal(p1.id, ID);
  assert.equal(p1.seq, r1.seq, `push seq ${p1.seq} != publish seq ${r1.seq}`);
  checkTS(p1.ts);
  assert.deepEqual(p1.data, value);

  step = 'publish text/plain';
  const plain = 'plain "text" \\ ✓ \n end';
  const r2 = await publish('text/plain', plain);
  assert.equal(r2.seq, r1.seq + 1, `second publish seq ${r2.seq}, want ${r1.seq + 1}`);
  const p2 = await textJSON(c, 'text/plain push');
  assert.equal(p2.seq, r2.seq);
  assert.equal(p2.data, plain, 'text/plain data must arrive as a JSON string');

  step = 'publish application/octet-stream';
  const payload = Buffer.concat([Buffer.from([0, 1, 2, 0xff, 0xfe]), crypto.randomBytes(3000)]);
  const r3 = await publish('application/octet-stream', payload);
  assert.equal(r3.seq, r2.seq + 1);
  const m3 = await c.next('binary push');
  assert.equal(m3.isBinary, true, 'expected a binary push');
  const b = m3.data;
  let o = 0;
  assert.equal(b[o++], 1, 'binary push version');
  const appLen = b[o++];
  assert.equal(b.subarray(o, o + appLen).toString(), APP, 'binary push app');
  o += appLen;
  const idLen = b[o++];
  assert.equal(b.subarray(o, o + idLen).toString(), ID, 'binary push id');
  o += idLen;
  assert.equal(b.readBigUInt64BE(o), BigInt(r3.seq), 'binary push seq');
  o += 8;
  checkTS(Number(b.readBigInt64BE(o)));
  o += 8;
  assert.ok(b.subarray(o).equals(payload), `binary push payload differs (${b.length - o} bytes, want ${payload.length})`);

  step = 'unknown op';
  c.ws.send(JSON.stringify({ op: 'frobnicate', ref: 'n2' }));
  const e = await textJSON(c, 'error reply');
  assert.equal(e.op, 'error', `unknown op answered ${JSON.stringify(e)}`);
  assert.equal(e.ref, 'n2');
  assert.equal(typeof e.code, 'string');

  step = 'unsubscribe';
  c.ws.send(JSON.stringify({ op: 'unsub', app: APP, ids: [ID], ref: 'n3' }));
  assert.deepEqual(await textJSON(c, 'unsub ack'), { op: 'ack', ref: 'n3' });
  const r4 = await publish('application/json', '4');
  assert.equal(r4.delivered, 0, `publish after unsub delivered ${r4.delivered}, want 0`);

  step = 'ping';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no pong')), STEP_MS);
    c.ws.once('pong', (data) => {
      clearTimeout(timer);
      if (data.toString() !== 'node-ping') reject(new Error(`pong payload ${JSON.stringify(data.toString())}`));
      else resolve();
    });
    c.ws.ping('node-ping');
  });

  step = 'close /ws';
  const closed = await c.closeAndWait(1000);
  assert.equal(closed.code, 1000, `close code ${closed.code}, want 1000`);
  log('pushes OK');
}

async function echo() {
  step = 'connect /echo';
  const c = await open(`${wsBase}/echo`);

  step = 'echo text';
  const text = 'echo ✓ ' + 'x'.repeat(200);
  c.ws.send(text);
  let m = await c.next('text echo');
  assert.equal(m.isBinary, false);
  assert.equal(m.data.toString('utf8'), text);

  step = 'echo binary';
  const bin = crypto.randomBytes(60 * 1024); // under the default -max-message of 64 KiB
  c.ws.send(bin);
  m = await c.next('binary echo');
  assert.equal(m.isBinary, true);
  assert.ok(m.data.equals(bin), 'binary echo differs');

  step = 'echo fragmented text';
  c.ws.send('frag-one ', { fin: false });
  c.ws.send('frag-two ', { fin: false });
  c.ws.send('frag-three ✓', { fin: true });
  m = await c.next('fragmented text echo');
  assert.equal(m.isBinary, false);
  assert.equal(m.data.toString('utf8'), 'frag-one frag-two frag-three ✓');

  step = 'echo fragmented binary';
  const parts = [crypto.randomBytes(10), crypto.randomBytes(5000), crypto.randomBytes(1)];
  c.ws.send(parts[0], { binary: true, fin: false });
  c.ws.send(parts[1], { binary: true, fin: false });
  c.ws.send(parts[2], { binary: true, fin: true });
  m = await c.next('fragmented binary echo');
  assert.equal(m.isBinary, true);
  assert.ok(m.data.equals(Buffer.concat(parts)), 'fragmented binary echo differs');

  step = 'echo empty';
  c.ws.send('');
  m = await c.next('empty echo');
  assert.equal(m.data.length, 0);

  step = 'close /echo';
  const closed = await c.closeAndWait(1000);
  assert.equal(closed.code, 1000, `close code ${closed.code}, want 1000`);
  log('echo OK');
}

const overall = setTimeout(() => {
  console.error(`node ws: FAIL: still running after 120 s (at step "${step}")`);
  process.exit(1);
}, 120000);

(async () => {
  await pushes();
  await echo();
  clearTimeout(overall);
  if (process.exitCode) {
    console.error('node ws: FAIL: the connection reported an error (see above)');
    process.exit(1);
  }
  log('OK');
  process.exit(0);
})().catch((err) => {
  console.error(`node ws: FAIL at step "${step}": ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
