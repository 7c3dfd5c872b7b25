#!/usr/bin/env python3
"""Test SMTP servers for bins/tests/smtp.rs, on 127.0.0.1 with a free port.

Prints "PORT <n>" once listening; exits when stdin closes.

Modes:
  starttls  aiosmtpd, STARTTLS and AUTH required (the Gmail-like setup)
  implicit  aiosmtpd over TLS from the first byte, AUTH required
  plain     aiosmtpd without STARTTLS; AUTH offered over plaintext
  drop      a raw server that closes the connection in the middle of DATA
  sink      a raw server (STARTTLS, any AUTH) that counts DATA bytes
            without keeping them, for the large-attachment test

aiosmtpd writes each message to OUT/msgN.eml (raw, as received, after
dot-unstuffing), its envelope to OUT/msgN.env and the MAIL/RCPT parameters
to OUT/msgN.opts ("MAIL <params>", then "RCPT <params>" per recipient);
AUTH attempts are appended to OUT/auth.log.
"""
import argparse
import asyncio
import os
import socket
import ssl
import sys
import threading

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USER = b"tester"


class Handler:
    def __init__(self, out):
        self.out = out
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 <%s>: no such user here" % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.append(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.out, "msg%d" % self.count)
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".env", "w") as f:
            f.write("\n".join([envelope.mail_from] + envelope.rcpt_tos) + "\n")
        with open(base + ".opts", "w") as f:
            lines = ["MAIL " + " ".join(envelope.mail_options)]
            lines += ["RCPT " + " ".join(o) for o in envelope.rcpt_options]
            f.write("\n".join(lines) + "\n")
        return "250 2.0.0 Ok: queued as %d" % self.count


def make_authenticator(out, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == USER
            and auth_data.password == password.encode()
        )
        with open(os.path.join(out, "auth.log"), "a") as f:
            f.write("%s %s\n" % (mechanism, "ok" if ok else "fail"))
        return AuthResult(success=ok, handled=False)

    return authenticate


async def raw_session(reader, writer, mode, ctx):
    """A minimal hand-written SMTP dialogue for the drop and sink modes."""

    async def say(line):
        writer.write(line.encode() + b"\r\n")
        await writer.drain()

    await say("220 raw.test ESMTP")
    while True:
        line = await reader.readline()
        if not line:
            return
        verb = line.split(b" ")[0].strip().upper()
        if verb in (b"EHLO", b"HELO"):
            caps = ["raw.test", "AUTH PLAIN LOGIN", "8BITMIME"]
            if mode == "sink" and writer.get_extra_info("sslcontext") is None:
                caps.append("STARTTLS")
            for cap in caps[:-1]:
                await say("250-" + cap)
            await say("250 " + caps[-1])
        elif verb == b"STARTTLS":
            await say("220 go ahead")
            await writer.start_tls(ctx)
        elif verb == b"AUTH":
            await say("235 ok")
        elif verb == b"DATA":
            await say("354 go ahead")
            if mode == "drop":
                await reader.read(4096)
                writer.transport.abort()
                return
            total, tail = 0, b""
            while not tail.endswith(b"\r\n.\r\n"):
                chunk = await reader.read(65536)
                if not chunk:
                    return
                total += len(chunk)
                tail = (tail + chunk)[-5:]
            await say("250 received %d octets" % total)
        elif verb == b"QUIT":
            await say("221 bye")
            writer.close()
            return
        else:
            await say("250 OK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--password", default="")
    args = ap.parse_args()

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Handler(args.out)
    auth = make_authenticator(args.out, args.password)

    def factory():
        common = dict(
            hostname="test.local",
            authenticator=auth,
            auth_required=True,
            data_size_limit=None,
        )
        if args.mode == "starttls":
            return SMTP(handler, tls_context=ctx, require_starttls=True, **common)
        if args.mode == "implicit":
            return SMTP(handler, auth_require_tls=False, **common)
        if args.mode == "plain":
            return SMTP(handler, auth_require_tls=False, **common)
        raise SystemExit("unknown mode " + args.mode)

    if args.mode in ("drop", "sink"):
        server = loop.run_until_complete(
            asyncio.start_server(
                lambda r, w: raw_session(r, w, args.mode, ctx), sock=sock
            )
        )
    else:
        tls = ctx if args.mode == "implicit" else None
        server = loop.run_until_complete(loop.create_server(factory, sock=sock, ssl=tls))

    print("PORT %d" % sock.getsockname()[1], flush=True)

    # Exit when the test closes our stdin (or dies).
    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    loop.run_forever()


if __name__ == "__main__":
    main()
