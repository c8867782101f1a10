// Unit tests of cmd/edgepush/page/edgepush.js against a fake WebSocket:
// positions, since, duplicates, gaps, reconnects, chunking, rate limits.
// Run by e2e/chromium_client_test.go (TestEdgePushJSUnit) as
// `node --test e2e/testdata/edgepush_unit.mjs`; needs no server.

import test from "node:test";
import assert from "node:assert/strict";
import { EdgePush, backoffDelay, reconnectDelay, rateDelay, decodeBinary } from "../../cmd/edgepush/page/edgepush.js";

// FakeSocket stands for the browser's WebSocket; the test plays the server.
class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.all.push(this);
  }
  send(text) { this.sent.push(JSON.parse(text)); }
  close(code = 1006) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code, reason: "" }), 0);
  }
  // The server's side.
  open() { this.readyState = 1; this.onopen?.(); }
  receive(message) {
    const data = typeof message === "string" || message instanceof ArrayBuffer ? message : JSON.stringify(message);
    this.onmessage?.({ data });
  }
  drop(code = 1006) { this.readyState = 3; this.onclose?.({ code, reason: "" }); }
  last() { return this.sent[this.sent.length - 1]; }
}

// waitFor polls cond every 2 ms for up to a second.
async function waitFor(what, cond) {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise(resolve => setTimeout(resolve, 2));
  }
  assert.fail("timed out waiting for " + what);
}

// setup returns a client on a fake socket, with everything it reported.
function setup(options = {}) {
  FakeSocket.all = [];
  const seen = { states: [], gaps: [], errors: [], acks: [], duplicates: [], pushes: [] };
  const client = new EdgePush("ws://127.0.0.1:1/ws", {
    WebSocket: FakeSocket, minDelay: 10, maxDelay: 40,
    onState: (state, detail) => seen.states.push({ state, ...detail }),
    onGap: gap => seen.gaps.push(gap),
    onError: error => seen.errors.push(error),
    onAck: ack => seen.acks.push(ack),
    onDuplicate: push => seen.duplicates.push(push),
    ...options,
  });
  const onPush = push => seen.pushes.push(push);
  const socket = () => FakeSocket.all[FakeSocket.all.length - 1];
  return { client, seen, onPush, socket };
}

function data(id, seq, app = "demo") {
  return { op: "data", app, id, seq, ts: 1700000000000 + seq, data: { v: seq } };
}

function seqs(pushes) {
  return pushes.map(push => push.seq);
}

// reconnect drops the socket and waits for the client's next one, opened.
async function reconnect(socket, code = 1006) {
  const before = FakeSocket.all.length;
  socket().drop(code);
  await waitFor("a new socket", () => FakeSocket.all.length > before);
  socket().open();
  return socket();
}

test("fresh sub, current value, duplicates dropped, position kept", () => {
  const { client, seen, onPush, socket } = setup();
  client.subscribe("demo", ["001"], onPush);
  assert.equal(socket().sent.length, 0, "nothing sent before open");
  socket().open();
  const sub = socket().last();
  assert.deepEqual({ ...sub, ref: undefined }, { op: "sub", app: "demo", ids: ["001"], ref: undefined });
  assert.equal(sub.since, undefined);
  socket().receive(data("001", 4)); // before the ack: a leftover, ignored
  socket().receive({ op: "ack", ref: sub.ref, keys: { "001": { seq: 5, epoch: "E" } } });
  socket().receive(data("001", 5));
  socket().receive(data("001", 5));
  socket().receive(data("001", 6));
  assert.deepEqual(seqs(seen.pushes), [5, 6]);
  assert.equal(seen.duplicates.length, 1);
  assert.deepEqual(client.position("demo", "001"), { seq: 6, epoch: "E" });
  assert.deepEqual(client.keyStats("demo", "001"), { pushes: 2, duplicates: 1, gaps: 0 });
  assert.equal(client.stats.ignored, 1);
  assert.equal(seen.gaps.length, 0);
  assert.deepEqual(seen.acks[0].ids, ["001"]);
  client.close();
});

test("reconnect resubscribes with since, replay delivered once", async () => {
  const { client, seen, onPush, socket } = setup();
  client.subscribe("demo", ["001", "002"], onPush);
  socket().open();
  socket().receive({ op: "ack", ref: socket().last().ref, keys: { "001": { seq: 6, epoch: "E" }, "002": { seq: 0, epoch: "" } } });
  socket().receive(data("001", 6));
  await reconnect(socket, 1001);
  const states = seen.states.map(s => s.state);
  assert.deepEqual(states, ["connecting", "open", "reconnecting", "connecting", "open"]);
  const waited = seen.states[2];
  assert.equal(waited.code, 1001);
  assert.ok(waited.delay >= 0 && waited.delay < 40, "a 1001 reconnect within maxDelay: " + waited.delay);
  const sub = socket().last();
  assert.deepEqual(sub.ids, ["001", "002"]);
  assert.deepEqual(sub.since, { "001": { seq: 6, epoch: "E" }, "002": 0 });
  socket().receive({ op: "ack", ref: sub.ref, keys: { "001": { seq: 8, epoch: "E" }, "002": { seq: 0, epoch: "" } } });
  socket().receive(data("001", 6)); // a duplicate
  socket().receive(data("001", 7));
  socket().receive(data("001", 8));
  socket().receive(data("001", 9));
  assert.deepEqual(seqs(seen.pushes), [6, 7, 8, 9]);
  assert.equal(seen.duplicates.length, 1);
  assert.equal(seen.gaps.length, 0);
  client.close();
});

test("server gap resets the position; the current value follows", async () => {
  const { client, seen, onPush, socket } = setup();
  client.subscribe("demo", "001", onPush);
  socket().open();
  socket().receive({ op: "ack", ref: socket().last().ref, keys: { "001": { seq: 8, epoch: "E" } } });
  socket().receive(data("001", 8));
  await reconnect(socket);
  const sub = socket().last();
  assert.deepEqual(sub.since, { "001": { seq: 8, epoch: "E" } });
  socket().receive({ op: "ack", ref: sub.ref, keys: { "001": { seq: 3, epoch: "F" } } });
  socket().receive({ op: "gap", app: "demo", id: "001", reason: "epoch", since: 8, seq: 3, epoch: "F" });
  socket().receive(data("001", 3));
  socket().receive(data("001", 4));
  assert.deepEqual(seqs(seen.pushes), [8, 3, 4]);
  assert.equal(seen.gaps.length, 1);
  assert.deepEqual(seen.gaps[0], { app: "demo", id: "001", reason: "epoch", since: 8, seq: 3, epoch: "F", local: false });
  assert.deepEqual(client.position("demo", "001"), { seq: 4, epoch: "F" });
  assert.equal(seen.duplicates.length, 0);
  // Reconnecting right after a gap, before its current value: fresh.
  await reconnect(socket);
  socket().receive({ op: "ack", ref: socket().last().ref, keys: { "001": { seq: 9, epoch: "G" } } });
  socket().receive({ op: "gap", app: "demo", id: "001", reason: "epoch", since: 4, seq: 9, epoch: "G" });
  await reconnect(socket);
  assert.equal(socket().last().since, undefined);
  client.close();
});

test("an ack with another epoch and no gap is a local gap", async () => {
  const { client, seen, onPush, socket } = setup();
  client.subscribe("demo", "001", onPush);
  socket().open();
  socket().receive({ op: "ack", ref: socket().last().ref, keys: { "001": { seq: 8, epoch: "E" } } });
  socket().receive(data("001", 8));
  await reconnect(socket);
  socket().receive({ op: "ack", ref: socket().last().ref, keys: { "001": { seq: 2, epoch: "F" } } });
  socket().receive(data("001", 2));
  assert.deepEqual(seqs(seen.pushes), [8, 2]);
  assert.equal(seen.gaps.length, 1);
  assert.equal(seen.gaps[0].local, true);
  assert.equal(seen.gaps[0].reason, "epoch");
  assert.deepEqual(client.position("demo", "001"), { seq: 2, epoch: "F" });
  client.close();
});

test("a hole in the seqs is a local gap", () => {
  const { client, seen, onPush, socket } = setup();
  client.subscribe("demo", "001", onPush);
  socket().open();
  socket().receive({ op: "ack", ref: socket().last().ref, keys: { "001": { seq: 1, epoch: "E" } } });
  socket().receive(data("001", 1));
  socket().receive(data("001", 4));
  assert.deepEqual(seqs(seen.pushes), [1, 4]);
  assert.deepEqual(seen.gaps, [{ app: "demo", id: "001", reason: "missed", since: 1, seq: 4, epoch: "E", local: true }]);
  client.close();
});

test("a key first published after its ack learns its epoch", async () => {
  const { client, seen, onPush, socket } = setup();
  client.subscribe("demo", "001", onPush);
  socket().open();
  socket().receive({ op: "ack", ref: socket().last().ref, keys: { "001": { seq: 0, epoch: "" } } });
  socket().receive(data("001", 1));
  await waitFor("the epoch refresh", () => socket().sent.length === 2);
  const refresh = socket().last();
  assert.deepEqual(refresh.ids, ["001"]);
  assert.equal(refresh.since, undefined);
  socket().receive({ op: "ack", ref: refresh.ref, keys: { "001": { seq: 1, epoch: "E" } } });
  assert.deepEqual(client.position("demo", "001"), { seq: 1, epoch: "E" });
  socket().receive(data("001", 2));
  assert.deepEqual(seqs(seen.pushes), [1, 2]);
  await reconnect(socket);
  assert.deepEqual(socket().last().since, { "001": { seq: 2, epoch: "E" } });
  client.close();
});

test("many ids go in messages of at most maxIds, within maxBytes", () => {
  const { client, onPush, socket } = setup();
  const ids = Array.from({ length: 600 }, (_, i) => String(i).padStart(4, "0"));
  client.subscribe("demo", ids, onPush);
  socket().open();
  assert.deepEqual(socket().sent.map(m => m.ids.length), [256, 256, 88]);
  assert.deepEqual(socket().sent.flatMap(m => m.ids), ids);
  assert.equal(new Set(socket().sent.map(m => m.ref)).size, 3);
  client.close();

  const long = setup({ maxBytes: 1000 });
  const longIds = Array.from({ length: 40 }, (_, i) => "x".repeat(60) + String(i).padStart(4, "0"));
  long.client.subscribe("demo", longIds, long.onPush);
  long.socket().open();
  for (const message of long.socket().sent) assert.ok(JSON.stringify(message).length <= 1000, JSON.stringify(message).length);
  assert.deepEqual(long.socket().sent.flatMap(m => m.ids).length, 40);
  long.client.close();
});

test("window: at most 4 requests await an answer", () => {
  const { client, onPush, socket } = setup({ maxIds: 1 });
  client.subscribe("demo", ["a", "b", "c", "d", "e", "f"], onPush);
  socket().open();
  assert.equal(socket().sent.length, 4);
  socket().receive({ op: "ack", ref: socket().sent[0].ref, keys: { a: { seq: 0, epoch: "" } } });
  assert.equal(socket().sent.length, 5);
  client.close();
});

test("rate_limited: resent after a pause, in order, without spinning", async () => {
  const { client, seen, onPush, socket } = setup({ maxIds: 1 });
  client.subscribe("demo", ["a", "b"], onPush);
  socket().open();
  const [first, second] = socket().sent;
  socket().receive({ op: "error", ref: first.ref, code: "rate_limited", msg: "slow down" });
  socket().receive({ op: "error", ref: second.ref, code: "rate_limited", msg: "slow down" });
  assert.equal(socket().sent.length, 2, "nothing resent at once");
  assert.equal(seen.errors.length, 2);
  assert.ok(seen.errors[0].retryIn >= 20, "pause " + seen.errors[0].retryIn);
  await waitFor("the resend", () => socket().sent.length === 3);
  assert.deepEqual(socket().last().ids, ["a"]);
  assert.equal(socket().sent.length, 3, "one at a time while limited");
  socket().receive({ op: "ack", ref: socket().last().ref, keys: { a: { seq: 0, epoch: "" } } });
  assert.deepEqual(socket().last().ids, ["b"]);
  client.close();
});

test("an unsub refused by the rate limit, then a sub of the same key: no false gap", async () => {
  const { client, seen, onPush, socket } = setup();
  client.subscribe("demo", "001", onPush);
  socket().open();
  socket().receive({ op: "ack", ref: socket().last().ref, keys: { "001": { seq: 5, epoch: "E" } } });
  socket().receive(data("001", 5));
  client.unsubscribe("demo", "001");
  const unsub = socket().last();
  client.subscribe("demo", "001", onPush);
  const sub = socket().last();
  assert.deepEqual([unsub.op, sub.op], ["unsub", "sub"]);
  socket().receive({ op: "error", ref: unsub.ref, code: "rate_limited", msg: "slow down" });
  // The server still has 001 from before: the sub is a repeat, answered
  // with the position and nothing else.
  socket().receive({ op: "ack", ref: sub.ref, keys: { "001": { seq: 6, epoch: "E" } } });
  socket().receive(data("001", 7));
  await new Promise(resolve => setTimeout(resolve, 60));
  assert.equal(socket().sent.filter(m => m.op === "unsub").length, 1, "the unsub is not resent");
  assert.deepEqual(seqs(seen.pushes), [5, 7]);
  assert.equal(seen.gaps.length, 0);
  client.close();
});

test("a refused sub drops its keys and reports them", async () => {
  const { client, seen, onPush, socket } = setup();
  client.subscribe("demo", ["ok", "bad\u0001"], onPush);
  socket().open();
  socket().receive({ op: "error", ref: socket().last().ref, code: "bad_key", msg: "ids[1]: control character" });
  assert.equal(seen.errors.length, 1);
  assert.deepEqual(seen.errors[0].ids, ["ok", "bad\u0001"]);
  assert.equal(seen.errors[0].op, "sub");
  assert.equal(client.position("demo", "ok"), null);
  await reconnect(socket);
  assert.equal(socket().sent.length, 0, "nothing resubscribed");
  client.close();
});

test("bad_since: tried once more without since", async () => {
  const { client, onPush, socket } = setup();
  client.subscribe("demo", "001", onPush);
  socket().open();
  socket().receive({ op: "ack", ref: socket().last().ref, keys: { "001": { seq: 3, epoch: "E" } } });
  socket().receive(data("001", 3));
  await reconnect(socket);
  assert.ok(socket().last().since);
  socket().receive({ op: "error", ref: socket().last().ref, code: "bad_since", msg: "no" });
  assert.equal(socket().sent.length, 2);
  assert.equal(socket().last().since, undefined);
  client.close();
});

test("unsubscribe: unsub sent, later pushes ignored, resubscribe is fresh", () => {
  const { client, seen, onPush, socket } = setup();
  client.subscribe("demo", ["001", "002"], onPush);
  socket().open();
  socket().receive({ op: "ack", ref: socket().last().ref, keys: { "001": { seq: 1, epoch: "E" }, "002": { seq: 1, epoch: "E" } } });
  client.unsubscribe("demo", ["002"]);
  assert.deepEqual({ op: socket().last().op, ids: socket().last().ids }, { op: "unsub", ids: ["002"] });
  socket().receive(data("002", 2));
  assert.equal(seen.pushes.length, 0);
  client.subscribe("demo", "002", onPush);
  assert.equal(socket().last().since, undefined);
  // Unsubscribing one of two handlers keeps the key.
  const other = () => {};
  client.subscribe("demo", "001", other);
  client.unsubscribe("demo", "001", other);
  assert.notEqual(client.position("demo", "001"), null);
  assert.equal(socket().sent.filter(m => m.op === "unsub").length, 1);
  client.close();
});

test("binary pushes decode and go through the same checks", () => {
  const { client, seen, onPush, socket } = setup();
  client.subscribe("demo", "001", onPush);
  socket().open();
  socket().receive({ op: "ack", ref: socket().last().ref, keys: { "001": { seq: 0, epoch: "x" } } });
  socket().receive(binaryPush("demo", "001", 1, [1, 2, 3]));
  socket().receive(binaryPush("demo", "001", 1, [1, 2, 3]));
  assert.equal(seen.pushes.length, 1);
  assert.equal(seen.pushes[0].binary, true);
  assert.deepEqual([...seen.pushes[0].data], [1, 2, 3]);
  assert.equal(seen.duplicates.length, 1);
  socket().receive(new Uint8Array([2, 0]).buffer);
  assert.equal(seen.errors[0].code, "bad_push");
  client.close();
});

test("close: final, no reconnect", async () => {
  const { client, seen, socket } = setup();
  socket().open();
  client.close();
  assert.equal(client.state, "closed");
  await new Promise(resolve => setTimeout(resolve, 60));
  assert.equal(FakeSocket.all.length, 1);
  assert.equal(seen.states[seen.states.length - 1].state, "closed");
});

test("connect timeout abandons an attempt", async () => {
  const { client, seen } = setup({ connectTimeout: 5 });
  await waitFor("a second attempt", () => FakeSocket.all.length >= 2);
  assert.ok(seen.states.some(s => s.state === "reconnecting" && !s.wasOpen));
  client.close();
});

test("backoff: full jitter, bounded, grows", () => {
  assert.equal(backoffDelay(0, 250, 30000, () => 0), 0);
  assert.equal(backoffDelay(0, 250, 30000, () => 0.999999), 249);
  assert.equal(backoffDelay(3, 250, 30000, () => 0.999999), 1999);
  assert.equal(backoffDelay(50, 250, 30000, () => 0.999999), 29999);
  assert.equal(backoffDelay(5000, 250, 30000, () => 0.5), 15000);
  assert.ok(rateDelay(1, 30000, () => 0) >= 500);
  assert.ok(rateDelay(40, 30000, () => 1) <= 30000);
});

test("reconnectDelay: after 1001 full jitter over at least goingAwayDelay", () => {
  const options = { minDelay: 250, maxDelay: 30000, goingAwayDelay: 5000 };
  assert.equal(reconnectDelay(0, 1006, options, () => 0.999999), 249, "not 1001: the backoff");
  assert.equal(reconnectDelay(0, 1001, options, () => 0.999999), 4999, "1001: bound goingAwayDelay");
  assert.equal(reconnectDelay(0, 1001, options, () => 0.5), 2500);
  assert.equal(reconnectDelay(0, 1001, options, () => 0), 0, "full jitter: from 0");
  assert.equal(reconnectDelay(6, 1001, options, () => 0.999999), 15999, "a longer backoff wins");
  assert.equal(reconnectDelay(0, 1001, { ...options, maxDelay: 2000 }, () => 0.999999), 1999, "within maxDelay");
  // Spread: 1000 clients of a closed batch do not come back within minDelay.
  const delays = Array.from({ length: 1000 }, () => reconnectDelay(0, 1001, options));
  assert.ok(delays.every(d => d >= 0 && d < 5000), "all within [0, goingAwayDelay)");
  const quick = delays.filter(d => d < options.minDelay).length;
  assert.ok(quick < 200, quick + " of 1000 within minDelay, want about 50");
});

test("close 1001: the reconnect waits a jittered delay, not at once", async () => {
  const random = Math.random;
  Math.random = () => 0.5;
  const { client, seen, onPush, socket } = setup({ maxDelay: 1000, goingAwayDelay: 400 });
  try {
    client.subscribe("demo", "001", onPush);
    socket().open();
    const before = FakeSocket.all.length;
    socket().drop(1001);
    const waited = seen.states[seen.states.length - 1];
    assert.equal(waited.state, "reconnecting");
    assert.equal(waited.code, 1001);
    assert.equal(waited.delay, 200, "half of goingAwayDelay for random 0.5, not of minDelay");
    await new Promise(resolve => setTimeout(resolve, 60));
    assert.equal(FakeSocket.all.length, before, "no reconnect before its delay");
    await waitFor("the reconnect", () => FakeSocket.all.length > before);
    socket().open();
    assert.deepEqual(socket().last().ids, ["001"]);
    // Another close code keeps the short backoff: random 0.5 of
    // minDelay × 2 (the second attempt since a stable connection).
    socket().drop(1006);
    assert.equal(seen.states[seen.states.length - 1].delay, 10);
  } finally {
    Math.random = random;
    client.close();
  }
});

test("decodeBinary", () => {
  const push = decodeBinary(binaryPush("äpp", "id/1", 2 ** 40, [9]));
  assert.deepEqual({ ...push, data: [...push.data] }, { app: "äpp", id: "id/1", seq: 2 ** 40, ts: 1700000000000, data: [9], binary: true });
  assert.throws(() => decodeBinary(new Uint8Array([1, 5, 1]).buffer), /truncated/);
});

function binaryPush(app, id, seq, payload) {
  const text = new TextEncoder();
  const a = text.encode(app), i = text.encode(id);
  const buffer = new ArrayBuffer(3 + a.length + i.length + 16 + payload.length);
  const view = new DataView(buffer), bytes = new Uint8Array(buffer);
  let at = 0;
  view.setUint8(at++, 1);
  view.setUint8(at++, a.length); bytes.set(a, at); at += a.length;
  view.setUint8(at++, i.length); bytes.set(i, at); at += i.length;
  view.setBigUint64(at, BigInt(seq)); at += 8;
  view.setBigInt64(at, 1700000000000n); at += 8;
  bytes.set(payload, at);
  return buffer;
}
