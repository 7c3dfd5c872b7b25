#!/usr/bin/env python3
"""Parses a received message with Python's `email` package for smtp.rs.

usage: check.py MESSAGE.eml OUTDIR

Prints tab-separated lines:
  raw        ok | <problem with CRLF or line length>
  defects    <count> <descriptions>
  header     <name> <decoded value>     (for every header, in order)
  structure  <content types in walk order, comma-separated>
  part       <n> <type> <filename|-> <cid|-> <disposition|-> <file>
             (each leaf; its decoded payload is written to <file>)
"""
import email
import email.policy
import os
import sys


def main():
    path, outdir = sys.argv[1], sys.argv[2]
    raw = open(path, "rb").read()

    problems = []
    if not raw.endswith(b"\r\n"):
        problems.append("no final CRLF")
    lines = raw.split(b"\r\n")
    if any(b"\r" in l or b"\n" in l for l in lines):
        problems.append("bare CR or LF")
    longest = max(len(l) for l in lines)
    if longest > 998:
        problems.append("line of %d octets" % longest)
    if any(b > 127 for b in raw):
        problems.append("8-bit data")
    print("raw\t" + ("ok" if not problems else "; ".join(problems)))

    msg = email.message_from_bytes(raw, policy=email.policy.default)
    defects = []
    for part in msg.walk():
        defects += [repr(d) for d in part.defects]
        for name, value in part.items():
            defects += [repr(d) for d in getattr(value, "defects", ())]
    print("defects\t%d\t%s" % (len(defects), " ".join(defects)))

    for name, value in msg.items():
        print("header\t%s\t%s" % (name.lower(), str(value)))

    print("structure\t" + ",".join(p.get_content_type() for p in msg.walk()))

    for n, part in enumerate(p for p in msg.walk() if not p.is_multipart()):
        out = os.path.join(outdir, "part%d" % n)
        with open(out, "wb") as f:
            if part.get_content_maintype() == "text":
                f.write(part.get_content().encode("utf-8"))
            else:
                f.write(part.get_payload(decode=True))
        cid = part.get("Content-ID", "-").strip("<>")
        disp = part.get_content_disposition() or "-"
        fields = [str(n), part.get_content_type(), part.get_filename() or "-", cid, disp, out]
        print("part\t" + "\t".join(fields))


if __name__ == "__main__":
    main()
