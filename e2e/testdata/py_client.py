#!/usr/bin/python3
"""Interop client for edgepush built on Debian's python3-websockets.

    /usr/bin/python3 py_client.py ws://127.0.0.1:PORT http://127.0.0.1:APIPORT

The server must run with -echo. websockets checks the protocol strictly: a
framing error by the server fails the connection. Prints "python websockets:
OK" and exits 0 when every check passes; otherwise prints what failed and
exits 1. Uses only the asyncio API, which every websockets since 10 has.
"""

import asyncio
import json
import os
import struct
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

import websockets

STEP = 20.0  # seconds per awaited event; generous for a busy machine
APP = "interop"
ID = "python-1"

step = "start"


def fail(msg):
    raise AssertionError(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def publish_sync(api, content_type, body):
    q = urllib.parse.urlencode({"app": APP, "id": ID})
    req = urllib.request.Request(
        f"{api}/v1/publish?{q}", data=body, method="POST",
        headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=STEP) as res:
            status, text = res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode(errors="replace")
    check(status == 200, f"publish {content_type}: HTTP {status}: {text}")
    try:
        r = json.loads(text)
    except ValueError:
        fail(f"publish {content_type}: answer is not JSON: {text!r}")
    check(isinstance(r.get("seq"), int), f"publish answer has no integer seq: {text}")
    check(isinstance(r.get("delivered"), int), f"publish answer has no integer delivered: {text}")
    return r


async def publish(api, content_type, body):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, publish_sync, api, content_type, body)


async def recv(ws, what):
    try:
        return await asyncio.wait_for(ws.recv(), STEP)
    except asyncio.TimeoutError:
        fail(f"timed out after {STEP} s waiting for {what}")


async def recv_json(ws, what):
    m = await recv(ws, what)
    check(isinstance(m, str), f"{what}: expected a text message, got binary {m[:64]!r}")
    try:
        return json.loads(m)
    except ValueError:
        fail(f"{what}: not JSON: {m!r}")


def check_ts(ts):
    check(isinstance(ts, int), f"ts is not an integer: {ts!r}")
    # A sanity bound, not a speed check.
    now = int(time.time() * 1000)
    check(abs(now - ts) < 3600_000, f"ts {ts} is more than an hour from now ({now})")


async def pushes(base, api):
    global step
    step = "connect /ws"
    async with websockets.connect(f"{base}/ws", max_size=8 << 20, open_timeout=STEP) as ws:
        step = "subscribe"
        await ws.send(json.dumps({"op": "sub", "app": APP, "ids": [ID], "ref": "p1"}))
        ack = await recv_json(ws, "sub ack")
        check(ack.get("op") == "ack" and ack.get("ref") == "p1", f"sub answered {ack}")
        check(ack["keys"][ID]["seq"] == 0 and isinstance(ack["keys"][ID]["epoch"], str), f"sub ack positions {ack}")

        step = "publish application/json"
        value = {"t": 21.5, "s": "héllo ✓", "list": [1, 2, 3], "nested": {"ok": True}}
        r1 = await publish(api, "application/json", json.dumps(value).encode())
        check(r1["delivered"] == 1, f"json publish delivered {r1['delivered']}, want 1")
        p = await recv_json(ws, "text push")
        check(p.get("op") == "data", f"push op {p.get('op')!r}")
        check(p.get("app") == APP and p.get("id") == ID, f"push key {p.get('app')!r}/{p.get('id')!r}")
        check(p.get("seq") == r1["seq"], f"push seq {p.get('seq')} != publish seq {r1['seq']}")
        check_ts(p.get("ts"))
        check(p.get("data") == value, f"push data {p.get('data')!r} != {value!r}")

        step = "publish text/plain"
        plain = 'plain "text" \\ ✓ \n end'
        r2 = await publish(api, "text/plain", plain.encode())
        check(r2["seq"] == r1["seq"] + 1, f"second publish seq {r2['seq']}, want {r1['seq'] + 1}")
        p = await recv_json(ws, "text/plain push")
        check(p.get("seq") == r2["seq"], f"push seq {p.get('seq')} != {r2['seq']}")
        check(p.get("data") == plain, f"text/plain data {p.get('data')!r} != {plain!r}")

        step = "publish application/octet-stream"
        payload = bytes([0, 1, 2, 0xFF, 0xFE]) + os.urandom(3000)
        r3 = await publish(api, "application/octet-stream", payload)
        check(r3["seq"] == r2["seq"] + 1, f"third publish seq {r3['seq']}, want {r2['seq'] + 1}")
        b = await recv(ws, "binary push")
        check(isinstance(b, bytes), f"expected a binary push, got text {b[:100]!r}")
        o = 0
        check(b[o] == 1, f"binary push version {b[o]}")
        o += 1
        n = b[o]
        o += 1
        check(b[o:o + n] == APP.encode(), f"binary push app {b[o:o + n]!r}")
        o += n
        n = b[o]
        o += 1
        check(b[o:o + n] == ID.encode(), f"binary push id {b[o:o + n]!r}")
        o += n
        seq, ts = struct.unpack_from(">Qq", b, o)
        o += 16
        check(seq == r3["seq"], f"binary push seq {seq} != publish seq {r3['seq']}")
        check_ts(ts)
        check(b[o:] == payload, f"binary push payload differs ({len(b) - o} bytes, want {len(payload)})")

        step = "unknown op"
        await ws.send(json.dumps({"op": "frobnicate", "ref": "p2"}))
        e = await recv_json(ws, "error reply")
        check(e.get("op") == "error" and e.get("ref") == "p2", f"unknown op answered {e}")
        check(isinstance(e.get("code"), str), f"error without a string code: {e}")

        step = "unsubscribe"
        await ws.send(json.dumps({"op": "unsub", "app": APP, "ids": [ID], "ref": "p3"}))
        ack = await recv_json(ws, "unsub ack")
        check(ack == {"op": "ack", "ref": "p3"}, f"unsub answered {ack}")
        r4 = await publish(api, "application/json", b"4")
        check(r4["delivered"] == 0, f"publish after unsub delivered {r4['delivered']}, want 0")

        step = "ping"
        pong = await ws.ping(b"py-ping")
        try:
            await asyncio.wait_for(pong, STEP)
        except asyncio.TimeoutError:
            fail("no pong")

        step = "close /ws"
        await asyncio.wait_for(ws.close(code=1000), STEP)
        check(ws.close_code == 1000, f"close code {ws.close_code}, want 1000")
    print("python websockets: pushes OK", flush=True)


async def echo(base):
    global step
    step = "connect /echo"
    async with websockets.connect(f"{base}/echo", max_size=8 << 20, open_timeout=STEP) as ws:
        step = "echo text"
        text = "echo ✓ " + "y" * 200
        await ws.send(text)
        m = await recv(ws, "text echo")
        check(m == text, f"text echo {m[:80]!r}")

        step = "echo binary"
        data = os.urandom(60 * 1024)  # under the default -max-message of 64 KiB
        await ws.send(data)
        m = await recv(ws, "binary echo")
        check(isinstance(m, bytes) and m == data, "binary echo differs")

        step = "echo fragmented text"
        # An iterable is sent as one fragmented message.
        await ws.send(["frag-one ", "frag-two ", "frag-three ✓"])
        m = await recv(ws, "fragmented text echo")
        check(m == "frag-one frag-two frag-three ✓", f"fragmented text echo {m!r}")

        step = "echo fragmented binary"
        parts = [os.urandom(10), os.urandom(5000), os.urandom(1)]
        await ws.send(parts)
        m = await recv(ws, "fragmented binary echo")
        check(isinstance(m, bytes) and m == b"".join(parts), "fragmented binary echo differs")

        step = "close /echo"
        await asyncio.wait_for(ws.close(code=1000), STEP)
        check(ws.close_code == 1000, f"close code {ws.close_code}, want 1000")
    print("python websockets: echo OK", flush=True)


async def main(base, api):
    await asyncio.wait_for(pushes(base, api), 120)
    await asyncio.wait_for(echo(base), 120)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: py_client.py ws://host:port http://host:apiport", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2]))
    except Exception as e:  # noqa: BLE001 - report anything as a failure
        print(f"python websockets: FAIL at step {step!r}: {type(e).__name__}: {e}", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
    print(f"python websockets {websockets.__version__}: OK", flush=True)
