#!/usr/bin/env python3
"""The servers scripts/registry.sh runs next to a test registry (Python 3,
standard library only):

  issuer   a token server for the registry's `auth: token` mode, as Docker
           Hub's auth service: GET /token with basic credentials (or none),
           or POST /token with an OAuth2 password grant, answers an RS256 JWT
           (header `x5c`: the signing key's self-signed certificate, which is
           the registry's rootcertbundle) granting the requested scope's
           actions the user may have. Users come from a file, one a line:
           NAME:PASSWORD:ACTIONS:LIFETIME:EXPIRES_IN (ACTIONS "pull" or
           "pull,push,delete"; LIFETIME the seconds the registry accepts the
           token; EXPIRES_IN what the answer says, which may be more, as
           with a skewed clock). Wrong credentials: 401 with
           {"details": "incorrect username or password"}.
  storage  the CDN stand-in for the registry's `redirect` storage
           middleware: GET and HEAD of the files under ROOT (the registry's
           storage), with single ranges (bytes=N- and bytes=N-M).

Each binds 127.0.0.1 on a free port, writes the port to PORT_FILE once it
listens, and logs every request as a JSON line to LOG (method, path, the
request's headers, status; the issuer also the user, the scopes asked and the
actions granted). With --tls-cert/--tls-key the issuer speaks https.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The registry accepts a token this long after its `exp` (distribution's
# leeway for clock skew), so a token meant to live LIFETIME seconds has
# `exp` = now + LIFETIME - LEEWAY.
LEEWAY = 60
# DigestInfo of a SHA-256 hash (PKCS #1 v1.5 signatures).
SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")

log_lock = threading.Lock()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Log:
    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8")

    def write(self, entry):
        entry["time"] = time.time()
        with log_lock:
            self.file.write(json.dumps(entry, sort_keys=True) + "\n")
            self.file.flush()


class RsaKey:
    """An RSA private key's numbers (from `openssl rsa -text`), for RS256."""

    def __init__(self, pem):
        text = subprocess.run(
            ["openssl", "rsa", "-in", pem, "-noout", "-text"],
            check=True, capture_output=True, text=True,
        ).stdout
        self.n = self.number(text, "modulus")
        self.d = self.number(text, "privateExponent")
        self.size = (self.n.bit_length() + 7) // 8

    @staticmethod
    def number(text, name):
        m = re.search(name + r":\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
        if not m:
            sys.exit(f"registry-sidecars.py: no {name} in the key")
        return int(re.sub(r"[^0-9a-f]", "", m.group(1)), 16)

    def sign(self, data):
        digest = SHA256_PREFIX + hashlib.sha256(data).digest()
        padded = b"\x00\x01" + b"\xff" * (self.size - len(digest) - 3) + b"\x00" + digest
        return pow(int.from_bytes(padded, "big"), self.d, self.n).to_bytes(self.size, "big")


def read_users(path):
    users = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, password, actions, lifetime, expires_in = line.split(":")
            users[name] = {
                "password": password,
                "actions": set(actions.split(",")),
                "lifetime": int(lifetime),
                "expires_in": int(expires_in),
            }
    return users


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ctrd-test-sidecar"

    def log_message(self, *args):
        pass

    def entry(self, status, **more):
        e = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "status": status,
        }
        e.update(more)
        self.server.log.write(e)

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class IssuerHandler(Handler):
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            return self.json(404, {"details": "not found"})
        query = urllib.parse.parse_qs(url.query)
        user, password = None, None
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return self.json(400, {"details": "malformed basic credentials"})
        self.issue(query, user, password, "basic" if user is not None else "anonymous")

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        if url.path != "/token":
            return self.json(404, {"details": "not found"})
        grant = form.get("grant_type", [""])[0]
        if grant != "password":
            # No refresh tokens here: clients fall back to GET.
            return self.json(400, {"error": "unsupported_grant_type"}, grant=grant)
        user = form.get("username", [""])[0]
        password = form.get("password", [""])[0]
        self.issue(form, user, password, "password grant")

    def json(self, status, obj, **more):
        self.entry(status, **more)
        self.answer(status, json.dumps(obj).encode(), [("Content-Type", "application/json")])

    def issue(self, query, user, password, how):
        server = self.server
        scopes = [s for v in query.get("scope", []) for s in v.split(" ") if s]
        service = query.get("service", [""])[0]
        facts = {"user": user, "scopes": scopes, "service": service, "how": how}
        if user is not None:
            known = server.users.get(user)
            if known is None or known["password"] != password:
                return self.json(401, {"details": "incorrect username or password"}, **facts)
            allowed = known["actions"]
            lifetime, expires_in = known["lifetime"], known["expires_in"]
        else:
            allowed, lifetime, expires_in = set(), 300, 300
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) < 3:
                continue
            kind, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
            granted = [a for a in actions if a in allowed or "*" in allowed]
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        with server.counter_lock:
            server.counter += 1
            jti = f"ctrd-token-{server.counter}"
        header = {"typ": "JWT", "alg": "RS256", "x5c": [server.cert_der]}
        claims = {
            "iss": server.issuer,
            "sub": user or "",
            "aud": service,
            "exp": now + lifetime - LEEWAY,
            "nbf": now - 1,
            "iat": now,
            "jti": jti,
            "access": access,
        }
        signed = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode()))
        token = signed + "." + b64url(server.key.sign(signed.encode()))
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        self.json(
            200,
            {"token": token, "access_token": token, "expires_in": expires_in, "issued_at": issued},
            granted=access, jti=jti, lifetime=lifetime, **facts,
        )


class StorageHandler(Handler):
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        full = os.path.realpath(os.path.join(self.server.root, path.lstrip("/")))
        if not full.startswith(self.server.root + os.sep) or not os.path.isfile(full):
            self.entry(404)
            return self.answer(404, b"not found\n")
        size = os.path.getsize(full)
        start, end, status = 0, size - 1, 200
        headers = [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes")]
        wanted = self.headers.get("Range")
        if wanted:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())
            if not m or int(m.group(1)) >= size:
                self.entry(416)
                return self.answer(416, b"", [("Content-Range", f"bytes */{size}")])
            start = int(m.group(1))
            if m.group(2):
                end = min(int(m.group(2)), size - 1)
            status = 206
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        self.entry(status)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(full, "rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = f.read(min(left, 64 << 10))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=["issuer", "storage"])
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--root", help="storage: the directory served")
    p.add_argument("--users", help="issuer: the users file")
    p.add_argument("--key", help="issuer: the RSA signing key (PEM)")
    p.add_argument("--cert", help="issuer: the key's self-signed certificate (PEM)")
    p.add_argument("--issuer", default="ctrd-test-issuer")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    args = p.parse_args()

    handler = IssuerHandler if args.kind == "issuer" else StorageHandler
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.log = Log(args.log)
    if args.kind == "issuer":
        server.users = read_users(args.users)
        server.key = RsaKey(args.key)
        with open(args.cert, encoding="ascii") as f:
            pem = f.read()
        body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
        server.cert_der = "".join(body.split())
        server.issuer = args.issuer
        server.counter, server.counter_lock = 0, threading.Lock()
        if args.tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(args.tls_cert, args.tls_key)
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
    else:
        server.root = os.path.realpath(args.root)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{server.server_address[1]}\n")
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
