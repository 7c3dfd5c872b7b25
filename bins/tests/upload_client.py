"""A Python http.client peer for bins/tests/upload.rs.

  upload_client.py form HOST:PORT PATH FILENAME=SOURCE...  multipart POST, one part per file
  upload_client.py put HOST:PORT TARGET SOURCE             PUT with the raw target as written

Prints the status, then the Location header (or "-"), one per line.
"""
import http.client
import sys


def multipart(files):
    boundary = "reactor-test-boundary-7f3a"
    body = bytearray()
    # A plain field first: skipped by the server.
    body += f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n".encode()
    for name, source in files:
        with open(source, "rb") as f:
            data = f.read()
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        body += (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{quoted}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode("utf-8", "surrogateescape")
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(body)


def main():
    mode, addr = sys.argv[1], sys.argv[2]
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    if mode == "form":
        path = sys.argv[3]
        files = [a.split("=", 1) for a in sys.argv[4:]]
        ctype, body = multipart(files)
        conn.request("POST", path, body=body, headers={"Content-Type": ctype})
    elif mode == "put":
        target, source = sys.argv[3], sys.argv[4]
        with open(source, "rb") as f:
            body = f.read()
        # putrequest keeps the target exactly as written (no normalising of ../ or %2e).
        conn.putrequest("PUT", target, skip_accept_encoding=True)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
    else:
        sys.exit(f"unknown mode {mode}")
    resp = conn.getresponse()
    resp.read()
    print(resp.status)
    print(resp.getheader("Location") or "-")


main()
