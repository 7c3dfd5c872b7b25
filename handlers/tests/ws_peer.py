"""A real WebSocket client (Python `websockets`) against an echo endpoint.

Usage: python3 ws_peer.py ws://127.0.0.1:PORT/echo
Prints one "ok NAME" line per check passed; exits 1 at the first failure.
"""

import os
import struct
import sys

from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.sync.client import connect

URL = sys.argv[1]
MIB = 1 << 20


def open_ws(**kw):
    return connect(URL, proxy=None, compression=None, open_timeout=10, close_timeout=10, **kw)


def check(name, cond, detail=""):
    if not cond:
        print(f"FAIL {name} {detail}", flush=True)
        sys.exit(1)
    print(f"ok {name}", flush=True)


def masked(opcode, payload, fin=True):
    """A client frame, masked, for the raw checks."""
    key = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def closed_with(ws, raw, code):
    """Writes raw bytes behind the library's back; the server must close with `code`."""
    ws.socket.sendall(raw)
    try:
        while True:
            ws.recv(timeout=10)
    except ConnectionClosedError as e:
        return e.rcvd is not None and e.rcvd.code == code
    except ConnectionClosedOK:
        return False


with open_ws() as ws:
    ws.send("hello")
    check("text", ws.recv(timeout=10) == "hello")
    ws.send("héllo wörld €😀")
    check("text-unicode", ws.recv(timeout=10) == "héllo wörld €😀")
    ws.send(b"\x00\xffbin")
    got = ws.recv(timeout=10)
    check("binary", got == b"\x00\xffbin" and isinstance(got, bytes))
    big = os.urandom(MIB)
    ws.send(big)
    check("binary-1MiB", ws.recv(timeout=30) == big)
    text = ("abcdefghé" * (MIB // 10 + 1))[: MIB // 2]
    ws.send(text)
    check("text-big", ws.recv(timeout=30) == text)
    ws.send(["frag", "men", "ted ", "é"])
    check("fragmented-text", ws.recv(timeout=10) == "fragmented é")
    ws.send([b"\x01", b"\x02\x03", b""])
    check("fragmented-binary", ws.recv(timeout=10) == b"\x01\x02\x03")
    pong = ws.ping(b"are you there")
    check("ping-pong", pong.wait(timeout=10))

with open_ws() as ws:
    ws.close(4000, "bye now")
    check("close-code", ws.close_code == 4000 and ws.protocol.close_rcvd.code == 4000)

with open_ws() as ws:
    check("invalid-utf8-1007", closed_with(ws, masked(0x1, b"ok \xff\xfe"), 1007))

with open_ws() as ws:
    first = masked(0x1, "caf".encode() + b"\xc3", fin=False)
    ws.socket.sendall(first + masked(0x0, b"\xa9!"))
    check("utf8-joined", ws.recv(timeout=10) == "café!")

with open_ws(max_size=None) as ws:
    try:
        ws.send(b"x" * (MIB + 1))
        ws.recv(timeout=30)
        check("oversized-1009", False, "echoed")
    except ConnectionClosedError as e:
        check("oversized-1009", e.rcvd is not None and e.rcvd.code == 1009, str(e))

with open_ws() as ws:
    unmasked = bytes([0x81, 2]) + b"hi"
    check("unmasked-1002", closed_with(ws, unmasked, 1002))

with open_ws() as ws:
    check("long-ping-1002", closed_with(ws, masked(0x9, b"p" * 126), 1002))

print("done", flush=True)
