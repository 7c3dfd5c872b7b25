#!/usr/bin/env python3
"""Sends BATCHES rounds of 16 pipelined GETs of PATH on each of CONNS connections to
127.0.0.1:PORT and reads back exactly the bytes of the answers (their size is learnt from
one GET first). A fixed amount of work, for counting instructions (bench/instructions.sh);
wrk measures rates, this does not.

usage: pipelined-client.py PORT PATH BATCHES [CONNS]
"""
import socket
import sys


def main():
    port, path, batches = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    conns = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    probe = socket.create_connection(("127.0.0.1", port))
    probe.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += probe.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    if not length:
        sys.exit("pipelined-client: the answer has no Content-Length")
    body = int(length[0].split(b":")[1])
    size = len(head) + 4 + body
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
    for _ in range(batches):
        for s in socks:
            s.sendall(req * 16)
        for s in socks:
            want, got = 16 * size, 0
            while got < want:
                data = s.recv(1 << 20)
                if not data:
                    sys.exit("pipelined-client: the server closed the connection")
                got += len(data)
            if got != want:
                sys.exit(f"pipelined-client: {got} bytes back, expected {want}")
    print(batches * conns * 16)


if __name__ == "__main__":
    main()
