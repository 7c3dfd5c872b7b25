"""The chat page of bins/examples/chat.rs in headless Chromium, with a Python `websockets`
client in the room: the client keeps talking (a message every 2 ms) while Chromium loads
the page and dumps its DOM; the dumped DOM must show that the page's JavaScript connected
to /ws and wrote a message it received into the page.

Chromium dumps the DOM once the page is idle for the virtual-time budget (virtual time runs
fast when nothing is pending), so the page gets only moments after connecting: hence the
steady stream of messages, and up to three runs.

Usage: python3 chat_browser.py http://127.0.0.1:PORT/
Prints "ok connected" and "ok received", or FAIL lines and exits 1.
"""

import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings

from websockets.sync.client import connect

warnings.filterwarnings("ignore", category=DeprecationWarning)
PAGE = sys.argv[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    print("FAIL chromium is not installed (apt-get install chromium)")
    sys.exit(1)

ws = connect(PAGE.replace("http://", "ws://") + "ws", proxy=None, compression=None, open_timeout=10)


def drain():
    """Reads our own broadcasts, so the server never finds us slow."""
    try:
        while True:
            ws.recv()
    except Exception:
        pass


threading.Thread(target=drain, daemon=True).start()


def browse(profile, tag):
    """One Chromium run; its DOM."""
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--no-proxy-server",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            PAGE,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    n = 0
    while proc.poll() is None:
        ws.send(f"hello from python {tag}-{n}")
        n += 1
        time.sleep(0.002)
    return proc.stdout.read().decode("utf-8", "replace"), proc.returncode


with tempfile.TemporaryDirectory() as profile:
    for attempt in range(3):
        dom, code = browse(profile, attempt)
        connected = '<p id="state">connected</p>' in dom
        received = re.search(r"<p>hello from python \d+-\d+</p>", dom)
        if connected and received:
            break
        print(f"run {attempt + 1}: connected {connected}, received {bool(received)}", file=sys.stderr)

if not connected:
    print(f"FAIL connected (chromium exit {code}): {dom[:2000]}")
    sys.exit(1)
print("ok connected")
if not received:
    print(f"FAIL received: {dom[:2000]}")
    sys.exit(1)
print("ok received")
ws.close()
