"""`Expect: 100-continue` over HTTP/2 (RFC 9113 §8.1), with the Python `h2` package, for
bins/tests/h2.rs and bins/tests/proxy_h2.rs.

Usage: h2_continue.py HOST:PORT PATH EXPECT LENGTH. Sends a POST of LENGTH bytes (as
`content-length`) to PATH with `expect: EXPECT` and no END_STREAM, then waits: the body
goes out only once an interim response arrives. Prints one line per observation, in
order: "interim STATUS", "status STATUS", "body BYTES SAME" (SAME: 1 when the response
body equals the request body), "reset CODE", "eof".
"""
import socket
import sys

import h2.config
import h2.connection
import h2.events


def main():
    addr, path, expect, length = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.increment_flow_control_window(1 << 24)
    body = bytes(i % 251 for i in range(length))
    fields = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", addr),
        ("content-length", str(length)),
        ("expect", expect),
    ]
    conn.send_headers(1, fields, end_stream=False)
    s.sendall(conn.data_to_send())
    sent = 0
    sending = False
    got = b""
    while True:
        if sending:
            # As much of the body as the windows allow; the rest after WINDOW_UPDATEs.
            while sent < length and conn.local_flow_control_window(1) > 0:
                n = min(length - sent, conn.local_flow_control_window(1), conn.max_outbound_frame_size)
                conn.send_data(1, body[sent : sent + n], end_stream=sent + n == length)
                sent += n
            s.sendall(conn.data_to_send())
        try:
            data = s.recv(65536)
        except socket.timeout:
            print("timeout")
            return
        if not data:
            print("eof")
            return
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.InformationalResponseReceived):
                print("interim", dict(ev.headers)[b":status"].decode())
                sending = True
            elif isinstance(ev, h2.events.ResponseReceived):
                print("status", dict(ev.headers)[b":status"].decode())
            elif isinstance(ev, h2.events.DataReceived):
                got += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, 1)
            elif isinstance(ev, h2.events.StreamEnded):
                print("body", len(got), int(got == body))
                s.sendall(conn.data_to_send())
                return
            elif isinstance(ev, h2.events.StreamReset):
                print("reset", int(ev.error_code))
                return
        s.sendall(conn.data_to_send())


main()
