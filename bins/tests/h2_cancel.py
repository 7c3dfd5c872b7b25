"""Streams cancelled by the client (RST_STREAM CANCEL), with the Python `h2` package, for
bins/tests/proxy_h2.rs: the connection and the server must carry on.

Usage: h2_cancel.py HOST:PORT PATH. On one connection (prior knowledge): stream 1 GETs
PATH and is cancelled at once, before any answer (the answer is still owed); stream 3 GETs
PATH and is cancelled after its first DATA (the body is still flowing); stream 5 GETs PATH
and reads it whole. Prints "data3 yes" once stream 3 saw data, then "whole5 STATUS BYTES".
"""
import socket
import sys

import h2.config
import h2.connection
import h2.errors
import h2.events


def main():
    addr, path = sys.argv[1], sys.argv[2]
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=20)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.increment_flow_control_window(1 << 24)
    fields = [(":method", "GET"), (":scheme", "http"), (":path", path), (":authority", addr)]
    conn.send_headers(1, fields, end_stream=True)
    conn.reset_stream(1, h2.errors.ErrorCodes.CANCEL)
    conn.send_headers(3, fields, end_stream=True)
    s.sendall(conn.data_to_send())
    status5, got5, started5 = None, 0, False
    while True:
        data = s.recv(65536)
        if not data:
            print("eof")
            return
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if ev.stream_id == 3 and not started5:
                    print("data3 yes")
                    conn.reset_stream(3, h2.errors.ErrorCodes.CANCEL)
                    conn.send_headers(5, fields, end_stream=True)
                    started5 = True
                elif ev.stream_id == 5:
                    got5 += len(ev.data)
            elif isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == 5:
                status5 = dict(ev.headers)[b":status"].decode()
            elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == 5:
                print("whole5", status5, got5)
                return
            elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == 5:
                print("reset5", int(ev.error_code))
                return
        s.sendall(conn.data_to_send())


main()
