// edgepush.js: the browser client of edgepush, a plain ES module without
// dependencies. It keeps one WebSocket open (reconnecting with backoff and
// full jitter, over seconds after a 1001 from a draining server), subscribes keys, remembers each key's position {seq, epoch}
// and resubscribes with "since" after a reconnect, so that the server
// replays what was missed or says that it cannot (a gap). Pushes reach the
// handlers at most once each and in seq order.
//
// API and semantics: docs/client.md. Wire protocol: docs/protocol.md.

// States are the connection states passed to onState.
export const States = Object.freeze({
  connecting: "connecting",     // a WebSocket is being opened
  open: "open",                 // connected; subscriptions are (re)sent
  reconnecting: "reconnecting", // closed; the next attempt waits detail.delay ms
  closed: "closed",             // close() was called; final
});

const defaults = Object.freeze({
  minDelay: 250,          // ms, the first reconnect's upper bound
  maxDelay: 30000,        // ms, bound of every reconnect delay
  goingAwayDelay: 5000,   // ms, least upper bound of the reconnect after close 1001 (the server drains)
  resetAfter: 5000,       // ms a connection must stay open to reset the backoff
  connectTimeout: 10000,  // ms an attempt may take to open before it is abandoned
  maxIds: 256,            // ids per sub or unsub message (the server's -max-ids)
  maxBytes: 60000,        // bytes per message, under the server's -max-message
  window: 4,              // requests awaiting an answer at once
  onState() {},           // (state, detail)
  onGap() {},             // ({app, id, reason, since, seq, epoch, local})
  onStale() {},           // ({app, id, since}): the key's source has been failing since (unix ms)
  onFresh() {},           // ({app, id}): the key's source answers again; its next value follows
  onError() {},           // ({code, msg, ref, op, app, ids, retryIn})
  onAck() {},             // ({app, ids, keys}) for each acknowledged sub
  onDuplicate() {},       // (push) for a push dropped as already seen
  WebSocket: undefined,   // constructor; the global WebSocket when undefined
});

const OPEN = 1;     // WebSocket.OPEN
const utf8 = new TextEncoder();

// backoffDelay is the wait before reconnect attempt number attempt (0 for
// the first): full jitter, uniform in [0, min(maxDelay, minDelay * 2^attempt)).
export function backoffDelay(attempt, minDelay, maxDelay, random = Math.random) {
  const bound = Math.min(maxDelay, minDelay * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * bound);
}

// reconnectDelay is the wait before reconnect attempt number attempt after a
// close with code: backoffDelay, except after 1001 (going away: the server
// drains or stops), where the bound is at least goingAwayDelay, still within
// maxDelay. A draining node closes its clients a batch at a time; each
// batch then comes back spread over seconds, on the other nodes, instead
// of all within minDelay.
export function reconnectDelay(attempt, code, { minDelay, maxDelay, goingAwayDelay }, random = Math.random) {
  if (code !== 1001) return backoffDelay(attempt, minDelay, maxDelay, random);
  const bound = Math.min(maxDelay, Math.max(goingAwayDelay, minDelay * 2 ** Math.min(attempt, 30)));
  return Math.floor(random() * bound);
}

// rateDelay is the pause after the n-th rate_limited answer in a row (1 for
// the first): between half and all of min(maxDelay, 1 s * 2^(n-1)), never
// near zero, so that a limited client cannot spin.
export function rateDelay(n, maxDelay, random = Math.random) {
  const bound = Math.min(maxDelay, 1000 * 2 ** Math.min(n - 1, 30));
  return Math.floor(bound * (0.5 + random() / 2));
}

// decodeBinary reads a binary push (docs/protocol.md, "Binary push"):
// u8 version 1, u8 len(app), app, u8 len(id), id, u64 seq, i64 ts, payload.
// It throws on another version or a frame too short for its own lengths.
export function decodeBinary(buffer) {
  const view = new DataView(buffer), bytes = new Uint8Array(buffer);
  const text = new TextDecoder();
  const need = n => { if (at + n > bytes.length) throw new Error("binary push: truncated"); };
  let at = 0;
  need(2);
  if (view.getUint8(at++) !== 1) throw new Error("binary push: unknown version " + bytes[0]);
  const appLength = view.getUint8(at++);
  need(appLength + 1);
  const app = text.decode(bytes.subarray(at, at + appLength)); at += appLength;
  const idLength = view.getUint8(at++);
  need(idLength + 16);
  const id = text.decode(bytes.subarray(at, at + idLength)); at += idLength;
  const seq = Number(view.getBigUint64(at)); at += 8;
  const ts = Number(view.getBigInt64(at)); at += 8;
  return { app, id, seq, ts, data: bytes.slice(at), binary: true };
}

// defaultURL is ws(s)://<the page's host>/ws.
function defaultURL() {
  if (typeof location === "undefined") throw new TypeError("EdgePush: no url and no location");
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
}

// idList turns ids (a string or an iterable of strings) into an array of
// distinct non-empty strings, or throws a TypeError.
function idList(ids) {
  const list = typeof ids === "string" ? [ids] : Array.from(ids ?? []);
  for (const id of list) {
    if (typeof id !== "string" || id === "") throw new TypeError("EdgePush: ids must be non-empty strings");
  }
  return [...new Set(list)];
}

function checkApp(app) {
  if (typeof app !== "string" || app === "") throw new TypeError("EdgePush: app must be a non-empty string");
}

// rethrow reports an exception of a caller's callback without letting it
// break the client: it surfaces as an uncaught error, as in an event listener.
function rethrow(error) {
  setTimeout(() => { throw error; }, 0);
}

// Key is one subscribed (app, id): its handlers and its position.
//
// seq is the last seq delivered in epoch, or null when no push has been
// seen since the position was (re)set without one (a fresh subscribe of a
// published key, a gap): then nothing is sent as "since" and the server
// sends the current value. next is the seq the next push must have: lower
// is a duplicate, higher a hole.
class Key {
  constructor(app, id) {
    this.app = app;
    this.id = id;
    this.handlers = new Set();
    this.seq = null;
    this.epoch = null;
    this.next = 0;
    this.counts = { pushes: 0, duplicates: 0, gaps: 0 };
    this.reset();
  }

  // reset forgets what belongs to one connection.
  reset() {
    this.sent = false;        // a sub naming it is on the wire, unanswered or acked
    this.acked = false;       // its sub was acked: pushes for it are accepted
    this.expectGap = null;    // the ack says a gap must follow; see #applyAck
    this.refreshing = false;  // a sub to learn its epoch is queued or on the wire
    this.kept = false;        // an unsub of the key never reached the server: its
                              // next sub is a repeat there, answered by the ack alone
  }

  // since is the position to send, or undefined for a fresh subscribe. A
  // position without a known epoch goes as a plain seq (docs/protocol.md).
  since() {
    if (this.seq === null) return undefined;
    if (this.epoch && this.seq > 0) return { seq: this.seq, epoch: this.epoch };
    return this.seq;
  }
}

// EdgePush is one connection to an edgepush server and its subscriptions.
export class EdgePush {
  #url;
  #options;
  #WebSocket;
  #socket = null;
  #state = "";
  #closed = false;
  #attempt = 0;           // reconnect attempts since the last stable connection
  #timers = { reconnect: 0, connect: 0, stable: 0, resume: 0, refresh: 0 };
  #apps = new Map();      // app → Map(id → Key)
  #outbox = [];           // requests to send: {op, app, keys | ids, fresh}
  #inflight = new Map();  // ref → request awaiting its answer
  #nextRef = 1;
  #limited = 0;           // rate_limited answers since the last accepted message
  #paused = false;        // sending waits for #timers.resume
  #retried = 0;           // requests put back in the outbox during this pause
  #refreshKeys = new Set();

  // stats counts, over the client's life: connections opened, pushes
  // delivered, duplicates dropped, gaps reported, error answers, and pushes
  // ignored (for keys not subscribed or not yet acknowledged).
  stats = { connects: 0, pushes: 0, duplicates: 0, gaps: 0, errors: 0, ignored: 0 };

  // new EdgePush(url?, options?) connects at once; url defaults to
  // ws(s)://location.host/ws. Options: see defaults above and docs/client.md.
  constructor(url, options = {}) {
    if (url && typeof url === "object" && !(url instanceof URL)) [url, options] = [undefined, url];
    this.#url = String(url ?? defaultURL());
    const protocol = new URL(this.#url).protocol;
    if (protocol !== "ws:" && protocol !== "wss:") throw new TypeError("EdgePush: url must be ws: or wss:");
    this.#options = { ...defaults, ...options };
    this.#WebSocket = this.#options.WebSocket ?? globalThis.WebSocket;
    this.#connect();
  }

  // state is the current connection state, one of States.
  get state() { return this.#state; }

  // subscribe adds onPush for each id of app; onPush({app, id, seq, ts,
  // data, binary}) gets every push of those keys from now on, once each.
  // Keys not yet subscribed are sent to the server (at once when open, else
  // on the next open). A key already subscribed just gains the handler.
  subscribe(app, ids, onPush) {
    checkApp(app);
    if (typeof onPush !== "function") throw new TypeError("EdgePush: onPush must be a function");
    const fresh = [];
    for (const id of idList(ids)) {
      let key = this.#find(app, id);
      if (!key) {
        key = new Key(app, id);
        this.#keysOf(app).set(id, key);
        fresh.push(key);
      }
      key.handlers.add(onPush);
    }
    if (fresh.length > 0 && this.#isOpen()) this.#queue({ op: "sub", app, keys: fresh });
  }

  // unsubscribe removes onPush from each id of app, or every handler when
  // onPush is not given; a key left without handlers is unsubscribed and its
  // position forgotten: a later subscribe starts fresh with the current value.
  unsubscribe(app, ids, onPush) {
    checkApp(app);
    const gone = [];
    for (const id of idList(ids)) {
      const key = this.#find(app, id);
      if (!key) continue;
      if (onPush) key.handlers.delete(onPush);
      if (onPush && key.handlers.size > 0) continue;
      this.#drop(key);
      if (key.sent) gone.push(id);
    }
    if (gone.length > 0 && this.#isOpen()) this.#queue({ op: "unsub", app, ids: gone });
  }

  // position returns the remembered {seq, epoch} of a subscribed key (seq
  // null: no push seen since it was last reset), or null if not subscribed.
  position(app, id) {
    const key = this.#find(app, id);
    return key ? { seq: key.seq, epoch: key.epoch } : null;
  }

  // keyStats returns {pushes, duplicates, gaps} of a subscribed key, or null.
  keyStats(app, id) {
    const key = this.#find(app, id);
    return key ? { ...key.counts } : null;
  }

  // close closes the connection for good: no reconnect, no more callbacks
  // except onState("closed").
  close() {
    if (this.#closed) return;
    this.#closed = true;
    for (const name of Object.keys(this.#timers)) this.#clearTimer(name);
    const socket = this.#socket;
    this.#endConnection();
    if (socket) socket.close(1000);
    this.#setState(States.closed, {});
  }

  // ---- connection ----

  #connect() {
    this.#timers.reconnect = 0;
    this.#setState(States.connecting, { attempt: this.#attempt });
    let socket;
    try {
      socket = new this.#WebSocket(this.#url);
    } catch (error) {
      this.#report({ code: "connect", msg: String(error?.message ?? error) });
      this.#scheduleReconnect({ code: 0, reason: "", wasOpen: false });
      return;
    }
    socket.binaryType = "arraybuffer";
    this.#socket = socket;
    let opened = false;
    this.#timers.connect = setTimeout(() => socket.close(), this.#options.connectTimeout);
    socket.onopen = () => { opened = true; this.#onOpen(socket); };
    socket.onmessage = event => this.#onMessage(socket, event.data);
    socket.onerror = () => {}; // a close event follows
    socket.onclose = event => this.#onClose(socket, event, opened);
  }

  #onOpen(socket) {
    if (socket !== this.#socket) return;
    this.#clearTimer("connect");
    this.stats.connects++;
    this.#timers.stable = setTimeout(() => { this.#attempt = 0; }, this.#options.resetAfter);
    this.#setState(States.open, { url: this.#url });
    for (const [app, keys] of this.#apps) {
      if (keys.size > 0) this.#queue({ op: "sub", app, keys: [...keys.values()] });
    }
  }

  #onClose(socket, event, wasOpen) {
    if (socket !== this.#socket) return;
    this.#endConnection();
    if (this.#closed) return;
    this.#scheduleReconnect({ code: event.code, reason: event.reason, wasOpen });
  }

  // endConnection forgets everything that belonged to the current socket.
  #endConnection() {
    if (this.#socket) {
      this.#socket.onopen = this.#socket.onmessage = this.#socket.onclose = null;
    }
    this.#socket = null;
    for (const name of ["connect", "stable", "resume", "refresh"]) this.#clearTimer(name);
    this.#outbox = [];
    this.#inflight.clear();
    this.#refreshKeys.clear();
    this.#limited = 0;
    this.#paused = false;
    this.#retried = 0;
    for (const keys of this.#apps.values()) for (const key of keys.values()) key.reset();
  }

  // scheduleReconnect waits reconnectDelay, then connects again; the attempt
  // count goes back to 0 only after a connection stayed open resetAfter ms.
  #scheduleReconnect(detail) {
    const delay = reconnectDelay(this.#attempt, detail.code, this.#options);
    this.#attempt++;
    this.#setState(States.reconnecting, { ...detail, delay, attempt: this.#attempt });
    this.#timers.reconnect = setTimeout(() => this.#connect(), delay);
  }

  #setState(state, detail) {
    this.#state = state;
    this.#call(this.#options.onState, state, detail);
  }

  #isOpen() {
    return this.#socket !== null && this.#socket.readyState === OPEN;
  }

  #clearTimer(name) {
    clearTimeout(this.#timers[name]);
    this.#timers[name] = 0;
  }

  // ---- requests ----

  #queue(request) {
    this.#outbox.push(request);
    this.#pump();
  }

  // pump sends queued requests while the socket is open, sending is not
  // paused by a rate limit, and fewer than window answers are awaited (one
  // while rate limited).
  #pump() {
    const window = this.#limited > 0 ? 1 : this.#options.window;
    while (this.#isOpen() && !this.#paused && this.#outbox.length > 0 && this.#inflight.size < window) {
      const request = this.#outbox.shift();
      const message = this.#build(request);
      if (!message) continue;
      message.ref = String(this.#nextRef++);
      this.#inflight.set(message.ref, request);
      this.#socket.send(JSON.stringify(message));
    }
  }

  // build turns a request into its message, or null when nothing of it is
  // still wanted. A sub takes the prefix of its keys that fits maxIds and
  // maxBytes and puts the rest back at the front of the outbox; its request
  // keeps what was sent (keys, and the since of each) for the answer.
  #build(request) {
    if (request.op === "unsub") {
      this.#keep(request);
      const ids = request.ids.filter(id => !this.#find(request.app, id));
      return ids.length > 0 ? { op: "unsub", app: request.app, ids } : null;
    }
    const wanted = request.keys.filter(key => this.#wanted(request, key));
    const { keys, rest } = this.#fit(request.app, wanted, request.fresh || request.op === "refresh");
    if (rest.length > 0) this.#outbox.unshift({ ...request, keys: rest });
    if (keys.length === 0) return null;
    request.keys = keys;
    request.since = new Map();
    const message = { op: "sub", app: request.app, ids: keys.map(key => key.id) };
    for (const key of keys) {
      key.sent = true;
      const since = request.fresh || request.op === "refresh" ? undefined : key.since();
      request.since.set(key, since);
      if (since !== undefined) (message.since ??= {})[key.id] = since;
    }
    return message;
  }

  // wanted: whether key still belongs in a sub (or an epoch refresh) now.
  #wanted(request, key) {
    if (this.#find(key.app, key.id) !== key) return false;
    if (request.op === "refresh") return key.acked && key.epoch === "" && key.refreshing;
    return !key.sent;
  }

  // fit splits keys into a prefix whose message stays within maxIds and
  // maxBytes (an estimate from each id's and epoch's JSON) and the rest.
  #fit(app, keys, fresh) {
    const { maxIds, maxBytes } = this.#options;
    let bytes = 64 + utf8.encode(JSON.stringify(app)).length, count = 0;
    for (const key of keys) {
      const id = utf8.encode(JSON.stringify(key.id)).length;
      const since = fresh || key.seq === null ? 0 : 40 + id + utf8.encode(JSON.stringify(key.epoch ?? "")).length;
      if (count > 0 && (count === maxIds || bytes + id + 1 + since > maxBytes)) break;
      bytes += id + 1 + since;
      count++;
    }
    return { keys: keys.slice(0, count), rest: keys.slice(count) };
  }

  // ---- messages ----

  #onMessage(socket, data) {
    if (socket !== this.#socket) return;
    if (typeof data !== "string") {
      let push;
      try { push = decodeBinary(data); } catch (error) { this.#report({ code: "bad_push", msg: error.message }); return; }
      this.#onPush(push);
      return;
    }
    let message;
    try { message = JSON.parse(data); } catch { this.#report({ code: "bad_message", msg: "not JSON" }); return; }
    switch (message?.op) {
      case "data": this.#onPush({ app: message.app, id: message.id, seq: message.seq, ts: message.ts, data: message.data, binary: false }); break;
      case "ack": this.#onAck(message); break;
      case "error": this.#onErrorAnswer(message); break;
      case "gap": this.#onGap(message); break;
      case "stale": this.#onNotice(this.#options.onStale, message, { since: Number(message.since) }); break;
      case "fresh": this.#onNotice(this.#options.onFresh, message, {}); break;
      default: break; // an op of a later protocol version: ignored
    }
  }

  #onAck(message) {
    const request = this.#inflight.get(message.ref);
    if (!request) return;
    this.#inflight.delete(message.ref);
    this.#limited = 0;
    if (request.op === "sub") this.#ackSub(request, message.keys ?? {});
    if (request.op === "refresh") this.#ackRefresh(request, message.keys ?? {});
    this.#pump();
  }

  #ackSub(request, positions) {
    const ids = [];
    for (const key of request.keys) {
      if (this.#find(key.app, key.id) !== key) continue; // unsubscribed meanwhile
      key.acked = true;
      ids.push(key.id);
      const position = positions[key.id];
      if (position) this.#applyAck(key, request.since.get(key), position);
    }
    if (ids.length > 0) this.#call(this.#options.onAck, { app: request.app, ids, keys: positions });
  }

  // applyAck sets a key's position from its ack. Fresh (no since): the
  // current value, seq position.seq, comes next (nothing, for a kept key). With since: a replay of
  // (since, position.seq] comes next, unless the ack itself shows that the
  // server must send a gap (another epoch, or since ahead of it); then
  // expectGap holds that gap, to be reported by the client if a push comes
  // first (see #onPush).
  #applyAck(key, since, position) {
    const seq = Number(position.seq) || 0, epoch = String(position.epoch ?? "");
    if (since === undefined && key.kept) {
      key.epoch = epoch;
      key.seq = seq;
      key.next = seq + 1;
      return;
    }
    if (since === undefined) {
      key.epoch = epoch;
      key.seq = seq === 0 ? 0 : null;
      key.next = seq === 0 ? 1 : seq;
      return;
    }
    const sinceSeq = typeof since === "number" ? since : since.seq;
    const sinceEpoch = typeof since === "number" ? undefined : since.epoch;
    if (sinceSeq > 0 && sinceEpoch !== undefined && sinceEpoch !== epoch) {
      key.expectGap = { reason: "epoch", since: sinceSeq, seq, epoch };
    } else if (sinceSeq > seq) {
      key.expectGap = { reason: "ahead", since: sinceSeq, seq, epoch };
    } else {
      key.epoch = epoch;
    }
  }

  // ackRefresh takes the epoch of keys that had none: their sub was acked
  // before their first publish (epoch ""), and the pushes since carry none.
  #ackRefresh(request, positions) {
    for (const key of request.keys) {
      key.refreshing = false;
      const position = positions[key.id];
      if (this.#find(key.app, key.id) === key && key.epoch === "" && position?.epoch) key.epoch = String(position.epoch);
    }
  }

  #onErrorAnswer(message) {
    const request = this.#inflight.get(message.ref);
    this.#inflight.delete(message.ref);
    const error = { code: message.code, msg: message.msg, ref: message.ref };
    if (request) Object.assign(error, this.#describe(request));
    if (message.code === "rate_limited" && request) {
      this.#retryLater(request, error);
      return;
    }
    this.stats.errors++;
    if (request?.op === "sub") this.#failSub(request, message.code);
    if (request?.op === "refresh") for (const key of request.keys) key.refreshing = false;
    this.#report(error);
    this.#pump();
  }

  // retryLater puts a rate-limited request back at the front of the outbox
  // and pauses sending for rateDelay; the server did not handle it.
  // Requests refused during one pause go back in the order they were sent.
  #retryLater(request, error) {
    this.#limited++;
    if (request.op === "sub") for (const key of request.keys) key.sent = false;
    if (request.op === "unsub") this.#keep(request);
    this.#outbox.splice(this.#retried++, 0, request);
    const delay = rateDelay(this.#limited, this.#options.maxDelay);
    this.#paused = true;
    this.#clearTimer("resume");
    this.#timers.resume = setTimeout(() => this.#resume(), delay);
    this.#report({ ...error, retryIn: delay });
  }

  // keep marks the keys of an unsub that were subscribed again before the
  // unsub reached the server: it is not sent for them, so the server keeps
  // the old subscription and answers their next sub without a current value.
  #keep(request) {
    for (const id of request.ids) {
      const key = this.#find(request.app, id);
      if (key) key.kept = true;
    }
  }

  #resume() {
    this.#timers.resume = 0;
    this.#paused = false;
    this.#retried = 0;
    this.#pump();
  }

  // failSub handles a refused sub: none of its keys was subscribed. After
  // bad_since it is tried once more without since (positions forgotten);
  // otherwise its keys are dropped, so that a reconnect does not repeat it.
  #failSub(request, code) {
    const keys = request.keys.filter(key => this.#find(key.app, key.id) === key);
    for (const key of keys) key.sent = false;
    if (code === "bad_since" && !request.fresh) {
      for (const key of keys) { key.seq = null; key.epoch = null; }
      this.#outbox.unshift({ op: "sub", app: request.app, keys, fresh: true });
      return;
    }
    for (const key of keys) this.#drop(key);
  }

  #describe(request) {
    const op = request.op === "refresh" ? "sub" : request.op;
    const ids = request.op === "unsub" ? request.ids : request.keys.map(key => key.id);
    return { op, app: request.app, ids };
  }

  // onNotice passes a stale or fresh notice of a subscribed key to handler.
  #onNotice(handler, message, extra) {
    const key = this.#find(message.app, message.id);
    if (!key) { this.stats.ignored++; return; }
    key.stale = handler === this.#options.onStale;
    this.#call(handler, { app: key.app, id: key.id, ...extra });
  }

  #onGap(message) {
    const key = this.#find(message.app, message.id);
    if (!key || !key.acked) { this.stats.ignored++; return; }
    key.expectGap = null;
    const gap = { reason: String(message.reason), since: Number(message.since), seq: Number(message.seq) || 0, epoch: String(message.epoch ?? "") };
    this.#gap(key, gap, false);
  }

  // gap resets key's position to the gap's: the current value (seq
  // gap.seq) comes next if the key has one, and is delivered.
  #gap(key, gap, local) {
    key.epoch = gap.epoch;
    key.seq = gap.seq === 0 ? 0 : null;
    key.next = gap.seq === 0 ? 1 : gap.seq;
    key.counts.gaps++;
    this.stats.gaps++;
    this.#call(this.#options.onGap, { app: key.app, id: key.id, ...gap, local });
  }

  // onPush delivers push to its key's handlers unless it is a duplicate
  // (seq below the key's next). A hole in the seqs, or a push where the ack
  // promised a gap, is reported as a local gap before the push is delivered.
  #onPush(push) {
    const key = this.#find(push.app, push.id);
    if (!key || !key.acked || typeof push.seq !== "number") { this.stats.ignored++; return; }
    if (key.expectGap) {
      const gap = key.expectGap;
      key.expectGap = null;
      this.#gap(key, gap, true);
    }
    if (push.seq < key.next) {
      key.counts.duplicates++;
      this.stats.duplicates++;
      this.#call(this.#options.onDuplicate, push);
      return;
    }
    if (push.seq > key.next && key.next > 0) {
      this.#gap(key, { reason: "missed", since: key.next - 1, seq: push.seq, epoch: key.epoch ?? "" }, true);
    }
    key.seq = push.seq;
    key.next = push.seq + 1;
    key.counts.pushes++;
    this.stats.pushes++;
    if (key.epoch === "") this.#refreshSoon(key);
    for (const handler of [...key.handlers]) this.#call(handler, push);
  }

  // refreshSoon asks, shortly and batched, for the epoch of a key first
  // published after its ack: a sub of a key the connection already has is
  // answered with its position and nothing else (docs/protocol.md).
  #refreshSoon(key) {
    if (key.refreshing) return;
    key.refreshing = true;
    this.#refreshKeys.add(key);
    if (this.#timers.refresh) return;
    this.#timers.refresh = setTimeout(() => {
      this.#timers.refresh = 0;
      const byApp = new Map();
      for (const k of this.#refreshKeys) byApp.set(k.app, [...(byApp.get(k.app) ?? []), k]);
      this.#refreshKeys.clear();
      for (const [app, keys] of byApp) this.#queue({ op: "refresh", app, keys });
    }, 50);
  }

  // ---- keys ----

  #keysOf(app) {
    let keys = this.#apps.get(app);
    if (!keys) this.#apps.set(app, keys = new Map());
    return keys;
  }

  #find(app, id) {
    return this.#apps.get(app)?.get(id);
  }

  #drop(key) {
    const keys = this.#apps.get(key.app);
    if (keys?.get(key.id) !== key) return;
    keys.delete(key.id);
    if (keys.size === 0) this.#apps.delete(key.app);
    this.#refreshKeys.delete(key);
  }

  #report(error) {
    this.#call(this.#options.onError, error);
  }

  // call runs a caller's callback; an exception it throws is rethrown
  // outside the client.
  #call(callback, ...args) {
    if (this.#closed && callback !== this.#options.onState) return;
    try { callback(...args); } catch (error) { rethrow(error); }
  }
}

export default EdgePush;
