"""Frame-level HTTP/2 client for bins/tests/h2.rs: one protocol case per run.

Usage: h2_driver.py HOST:PORT CASE. Prints one line per observation ("goaway CODE",
"rst STREAM CODE", "status STREAM CODE", "data STREAM BYTES", "eof"); the Rust test
asserts on them. Requests are encoded with the `hpack` package that `h2` brings; frames
that break the rules are written by hand, since `h2` refuses to send them.
"""
import socket
import struct
import sys

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONT = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


class Client:
    def __init__(self, addr, settings=b""):
        host, port = addr.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=5)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.buf = b""
        self.send(PREFACE + frame(SETTINGS, 0, 0, settings))

    def send(self, b):
        self.s.sendall(b)

    def headers(self, stream, path="/", method="GET", extra=(), end=True, flags=END_HEADERS):
        fields = [(":method", method), (":scheme", "http"), (":path", path), (":authority", "t")]
        block = self.enc.encode(fields + list(extra))
        self.send(frame(HEADERS, flags | (END_STREAM if end else 0), stream, block))

    def read_frame(self):
        """The next frame as (kind, flags, stream, payload); None at EOF or timeout."""
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            try:
                chunk = self.s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                return None
            if not chunk:
                return None
            self.buf += chunk
        n = int.from_bytes(self.buf[:3], "big")
        kind, flags = self.buf[3], self.buf[4]
        stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
        payload, self.buf = self.buf[9 : 9 + n], self.buf[9 + n :]
        if kind == SETTINGS and not flags & ACK:
            self.send(frame(SETTINGS, ACK, 0))
        return kind, flags, stream, payload

    def frames(self, until=None, limit=10000):
        """Reads frames, printing observations, until `until(kind, flags, stream)` or EOF."""
        for _ in range(limit):
            f = self.read_frame()
            if f is None:
                print("eof")
                return
            kind, flags, stream, payload = f
            if kind == GOAWAY:
                print("goaway", int.from_bytes(payload[4:8], "big"))
            elif kind == RST:
                print("rst", stream, int.from_bytes(payload, "big"))
            elif kind == HEADERS:
                fields = dict(self.dec.decode(payload))
                if ":status" in fields:
                    print("status", stream, fields[":status"])
            elif kind == DATA:
                print("data", stream, len(payload))
            if until and until(kind, flags, stream):
                return


def main():
    addr, case = sys.argv[1], sys.argv[2]
    ends = lambda s: (lambda k, f, st: st == s and k in (DATA, HEADERS) and f & END_STREAM)
    if case == "get":
        c = Client(addr)
        c.headers(1, "/hello.txt")
        c.frames(ends(1))
    elif case == "head":
        c = Client(addr)
        c.headers(1, "/hello.txt", method="HEAD")
        c.frames(ends(1))
    elif case == "reuse":  # §5.1.1: a stream id that goes backwards
        c = Client(addr)
        c.headers(3, "/hello.txt")
        c.headers(1, "/hello.txt")
        c.frames()
    elif case == "even":  # §5.1.1: client streams are odd
        c = Client(addr)
        c.headers(2, "/hello.txt")
        c.frames()
    elif case == "uppercase":  # §8.2.1: uppercase field names are malformed
        c = Client(addr)
        c.headers(1, "/hello.txt", extra=[("X-Upper", "1")])
        c.headers(3, "/hello.txt")
        c.frames(ends(3))
    elif case == "connection-header":  # §8.2.2
        c = Client(addr)
        c.headers(1, "/hello.txt", extra=[("connection", "keep-alive")])
        c.headers(3, "/hello.txt", extra=[("te", "gzip")])
        c.headers(5, "/hello.txt")
        c.frames(ends(5))
    elif case == "no-path":  # §8.3.1: missing pseudo-header
        c = Client(addr)
        block = c.enc.encode([(":method", "GET"), (":scheme", "http")])
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
        c.frames(lambda k, f, s: k == RST)
    elif case == "content-length":  # §8.1.1: content-length must match DATA
        c = Client(addr)
        c.headers(1, "/hello.txt", method="POST", extra=[("content-length", "10")], end=False)
        c.send(frame(DATA, END_STREAM, 1, b"abc"))
        c.frames(lambda k, f, s: k == RST)
    elif case == "oversized":  # §4.2: frame larger than SETTINGS_MAX_FRAME_SIZE
        c = Client(addr)
        c.send(frame(PING, 0, 0, b"x" * 16385))
        c.frames()
    elif case == "push-promise":  # §8.4: clients cannot push
        c = Client(addr)
        c.send(frame(PUSH, END_HEADERS, 1, b"\0\0\0\2"))
        c.frames()
    elif case == "window-overflow":  # §6.9.1
        c = Client(addr)
        c.send(frame(WINDOW, 0, 0, struct.pack(">I", 0x7FFFFFFF)))
        c.frames()
    elif case == "continuation-flood":  # CVE-2024-27316
        c = Client(addr)
        c.send(frame(HEADERS, END_STREAM, 1, b""))
        try:
            for _ in range(200):
                c.send(frame(CONT, 0, 1, b"\x40" * 1000))
        except OSError:
            pass
        c.frames()
    elif case == "rapid-reset":  # CVE-2023-44487
        c = Client(addr)
        try:
            for i in range(1, 600, 2):
                c.headers(i, "/hello.txt")
                c.send(frame(RST, 0, i, struct.pack(">I", 8)))
        except OSError:
            pass
        c.frames(lambda k, f, s: k == GOAWAY)
    elif case == "ping-flood":  # bounded control output while we do not read
        c = Client(addr)
        try:
            c.send(frame(PING, 0, 0, b"12345678") * 5000)
        except OSError:
            pass
        c.frames(lambda k, f, s: k == GOAWAY)
    elif case == "hpack-bomb":  # header list limit: 431, connection lives
        c = Client(addr)
        big = "a" * 4000
        block = c.enc.encode([(":method", "GET"), (":scheme", "http"), (":path", "/hello.txt"), ("x-bomb", big)])
        block += b"\xbe" * 1000  # the x-bomb entry (index 62) a thousand times
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
        c.frames(ends(1))
        c.headers(3, "/hello.txt")
        c.frames(ends(3))
    elif case == "max-streams":  # SETTINGS_MAX_CONCURRENT_STREAMS: 128, then REFUSED_STREAM
        c = Client(addr, settings=struct.pack(">HI", 4, 0))  # zero window: streams stay open
        for i in range(1, 2 * 130, 2):
            c.headers(i, "/big.bin")
        c.frames(lambda k, f, s: k == RST)
    elif case == "small-window":  # flow control: a large file through a 1000-byte window
        c = Client(addr, settings=struct.pack(">HI", 4, 1000))
        c.headers(1, "/big.bin")
        got = 0
        c.s.settimeout(1)
        while (f := c.read_frame()) is not None:
            got += len(f[3]) if f[0] == DATA else 0
        print("stalled_at", got)  # no more until the window opens
        c.s.settimeout(5)
        c.send(frame(WINDOW, 0, 1, struct.pack(">I", 1 << 24)) + frame(WINDOW, 0, 0, struct.pack(">I", 1 << 24)))
        while (f := c.read_frame()) is not None:
            if f[0] == DATA:
                got += len(f[3])
                if f[1] & END_STREAM:
                    break
        print("total", got)
    elif case == "graceful-stop":  # GOAWAY on SIGTERM; the open stream still finishes
        c = Client(addr, settings=struct.pack(">HI", 4, 1000))
        c.headers(1, "/big.bin")
        got = 0
        while got < 1000 and (f := c.read_frame()) is not None:
            got += len(f[3]) if f[0] == DATA else 0
        print("ready", flush=True)
        sys.stdin.readline()  # the test sends SIGTERM, then a line
        c.frames(lambda k, f, s: k == GOAWAY)
        c.headers(3, "/hello.txt")  # after GOAWAY: ignored
        c.send(frame(WINDOW, 0, 1, struct.pack(">I", 1 << 24)) + frame(WINDOW, 0, 0, struct.pack(">I", 1 << 24)))
        while (f := c.read_frame()) is not None:
            if f[0] == DATA and f[2] == 1:
                got += len(f[3])
            if f[0] == HEADERS and f[2] == 3:
                print("answered 3")
        print("total", got)
    elif case == "zero-window":  # a stream stalled on a zero window is reset, not the rest
        c = Client(addr, settings=struct.pack(">HI", 4, 0))
        c.headers(1, "/big.bin")
        c.frames(lambda k, f, s: k == RST)
        c.send(frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 65535)))
        c.headers(3, "/hello.txt")
        c.frames(ends(3))
    else:
        raise SystemExit("unknown case " + case)


main()
