#!/usr/bin/env python3
"""Hold N served keep-alive connections open to 127.0.0.1:PORT (bench/run's scaling case).

usage: idle-conns.py PORT N [PATH]

Each connection binds a source address in 127.0.0.2-127.0.0.9 (eight times the ephemeral
ports of one address), sends one GET and reads the whole answer, so the server holds it as
an idle keep-alive connection. Prints "ready N" once all are served, then holds them until
the process is killed. Exits 1 with one line on any failure.
"""
import resource
import signal
import socket
import sys


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    path = sys.argv[3] if len(sys.argv) > 3 else "/1k.bin"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    req = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((f"127.0.0.{2 + i % 8}", 0))
        s.connect(("127.0.0.1", port))
        s.sendall(req)
        socks.append(s)
    for s in socks:
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit("idle-conns: connection closed before the answer")
            got += chunk
        head, _, body = got.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit("idle-conns: connection closed in the body")
            body += chunk
    print(f"ready {len(socks)}", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError) as e:
        raise SystemExit(f"idle-conns: {e}")
