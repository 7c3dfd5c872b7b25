"""Three Python `websockets` clients in the chat room of bins/examples/chat.rs.

Usage: python3 chat_peers.py ws://127.0.0.1:PORT/ws
"""

import sys
import warnings

from websockets.sync.client import connect

URL = sys.argv[1]
warnings.filterwarnings("ignore", category=DeprecationWarning)


def client():
    return connect(URL, proxy=None, compression=None, open_timeout=10)


def drain(ws, want):
    got = [ws.recv(timeout=10) for _ in range(want)]
    return got


a, b = client(), client()
c = client()
a.send("hello from a")
b.send("hello from b")
for ws in (a, b, c):
    got = drain(ws, 2)
    if sorted(got) != ["hello from a", "hello from b"]:
        print(f"FAIL broadcast {got}")
        sys.exit(1)
print("ok broadcast")

a.send(b"binary is not chat")
a.send("after binary")
if drain(a, 1) != ["after binary"] or drain(b, 1) != ["after binary"]:
    print("FAIL binary-ignored")
    sys.exit(1)
print("ok binary-ignored")

c.close()
a.send("c has gone")
if drain(a, 1) != ["c has gone"] or drain(b, 1) != ["c has gone"]:
    print("FAIL after-leave")
    sys.exit(1)
print("ok after-leave")
a.close()
b.close()
