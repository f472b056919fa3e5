"""LGSP, the data-exchange platform (issue 5): the registry, the signed
gateway with its refusals, forwarding failures and large bodies, the message
log (tamper detection, export verified with the key alone), asynchronous
document exchange across restarts, the personal-data tracker, statistics and
the connectivity figure. The providers' backends and the receivers are small
Python HTTP servers on loopback ports."""
import hashlib
import json
import os
import secrets
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit, parse_qsl

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from conftest import DEMO_PASSWORD, assert_error

CITIZEN = "030095001234"  # the demo citizen
DEPARTMENTS = ["000.00.%02d.H23" % i for i in range(1, 19)]  # the demo province's 18 departments


# ---------------------------------------------------------------- clients

class Subsystem:
    """A client subsystem: its key pair and the signing rule of exchange.h."""

    def __init__(self, member, code):
        self.member, self.code = member, code
        self.id = "%s/%s" % (member, code)
        self.key = Ed25519PrivateKey.generate()
        self.pub = self.key.public_key().public_bytes(serialization.Encoding.Raw,
                                                      serialization.PublicFormat.Raw).hex()

    def sign_headers(self, method, path, params=(), body=b"", purpose=None, subject=None, t=None, nonce=None):
        query = "&".join(quote(k, safe="-._~") + "=" + quote(v, safe="-._~") for k, v in params)
        t = t if t is not None else str(int(time.time() * 1000))
        nonce = nonce or secrets.token_hex(16)
        canon = "\n".join(["tinhso-x-road-v1", method, path, query, hashlib.sha256(body).hexdigest(), t, nonce,
                           self.id, purpose or "", subject or ""])
        h = {"X-Road-Client": self.id, "X-Road-Time": t, "X-Road-Nonce": nonce,
             "X-Road-Signature": self.key.sign(canon.encode()).hex()}
        if purpose:
            h["X-Road-Purpose"] = quote(purpose, safe="")  # UTF-8 travels percent-encoded
        if subject:
            h["X-Road-Subject"] = subject
        return h, query

    def request(self, server, method, path, params=(), body=b"", headers=None, **kw):
        h, query = self.sign_headers(method, path, params, body, **kw)
        h.update(headers or {})
        url = server.url(quote(path, safe="/-._~") + ("?" + query if query else ""))
        return requests.request(method, url, headers=h, data=body, timeout=60)


# ---------------------------------------------------------------- backends

class Backend:
    """A provider's backend on a free loopback port: records what reached it."""

    def __init__(self):
        self.hits = []
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _send(self, status, body, ctype="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def handle_any(self):
                body = self._body()
                u = urlsplit(self.path)
                outer.hits.append({"method": self.command, "path": u.path, "query": parse_qsl(u.query),
                                   "headers": dict(self.headers), "body_len": len(body),
                                   "body_sha256": hashlib.sha256(body).hexdigest()})
                if u.path.startswith("/base/slow"):
                    time.sleep(3)
                    return self._send(200, b'{"late":true}')
                if u.path.startswith("/base/big"):
                    n = int(dict(parse_qsl(u.query)).get("n", "0"))
                    return self._send(200, b"x" * n, "application/octet-stream")
                if u.path.startswith("/base/status/"):
                    return self._send(int(u.path.rsplit("/", 1)[1]), b'{"backend":"says no"}')
                if u.path.startswith("/base/echo"):
                    return self._send(200, body, self.headers.get("Content-Type") or "application/octet-stream")
                doc = {"path": unquote(u.path), "query": parse_qsl(u.query, keep_blank_values=True),
                       "method": self.command,
                       "client": self.headers.get("X-Road-Client"),
                       "purpose": unquote(self.headers.get("X-Road-Purpose") or ""),
                       "subject": self.headers.get("X-Road-Subject"),
                       "message_id": self.headers.get("X-Road-Message-Id")}
                self._send(200, json.dumps(doc, ensure_ascii=False).encode())

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d/base" % self.port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Receiver:
    """A receiving agency's system for pushed documents. Its memory (what it has
    processed) survives its own restarts, as a database would; it drops a
    message it already has and answers 200, so it processes each once."""

    def __init__(self, port=0):
        self.processed = []      # (sender, seq, id, body) in the order processed
        self.deliveries = []     # every push that arrived, repeats included
        self.fail_once_after_processing = set()  # seqs: process, then answer 500 (ack lost)
        self.order_violations = []
        self.port = port
        self.httpd = None
        self.start()

    def start(self):
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                mid, seq = self.headers["X-Road-Message-Id"], int(self.headers["X-Road-Seq"])
                sender = self.headers["X-Road-Sender"]
                outer.deliveries.append((sender, seq, mid))
                if mid not in {p[2] for p in outer.processed}:
                    last = max([p[1] for p in outer.processed if p[0] == sender] or [0])
                    if seq != last + 1:
                        outer.order_violations.append((sender, seq, last))
                    outer.processed.append((sender, seq, mid, body, dict(self.headers)))
                if seq in outer.fail_once_after_processing:
                    outer.fail_once_after_processing.discard(seq)
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d/inbox" % self.port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(cond, timeout=40, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def lgsp(tmp_path_factory):
    """One installation with a provider (Sở Tư pháp's judicial-records system),
    an allowed client, a client without rights, and the backend."""
    from conftest import Server
    import shutil
    import tempfile
    tmp = tempfile.mkdtemp(prefix="tinhso-e2e-x-")
    s = Server(tmp, env={"TINHSO_MAX_UPLOAD": str(25 * 1024 * 1024),
                         "TINHSO_EXCHANGE_MAX_RESPONSE": str(24 * 1024 * 1024)})
    s.cli("init")
    s.cli("demo")
    s.start()
    be = Backend()
    admin = s.admin()
    provider = Subsystem("000.00.03.H23", "LLTP")
    client = Subsystem("000.00.31.H23", "MOTCUA")
    stranger = Subsystem("000.00.05.H23", "TAICHINH")
    for code, name in [("000.00.03.H23", "Sở Tư pháp"), ("000.00.31.H23", "Trung tâm Phục vụ hành chính công"),
                       ("000.00.05.H23", "Sở Tài chính")]:
        r = admin.post("/api/v1/exchange/members", json={"code": code, "name": name})
        assert r.status_code in (201, 409), r.text
    for sub, name in [(provider, "Lý lịch tư pháp"), (client, "Một cửa điện tử"), (stranger, "Tài chính")]:
        r = admin.post("/api/v1/exchange/subsystems", json={"member": sub.member, "code": sub.code, "name": name,
                                                            "public_key": sub.pub})
        assert r.status_code == 201, r.text
    svc = {"member": provider.member, "subsystem": provider.code}
    r = admin.post("/api/v1/exchange/services", json=dict(svc, code="records", description="Phiếu lý lịch tư pháp",
                                                         backend_url=be.url, methods=["GET", "POST"],
                                                         personal_data=True, timeout_ms=800,
                                                         openapi={"openapi": "3.0.3", "info": {"title": "LLTP"}}))
    assert r.status_code == 201, r.text
    r = admin.post("/api/v1/exchange/services", json=dict(svc, code="public", description="Thống kê công khai",
                                                         backend_url=be.url, methods="GET,POST,PUT,DELETE"))
    assert r.status_code == 201, r.text
    dead = "http://127.0.0.1:%d/x" % free_port()
    r = admin.post("/api/v1/exchange/services", json=dict(svc, code="down", description="Backend down",
                                                         backend_url=dead))
    assert r.status_code == 201, r.text
    for code in ("records", "public", "down"):
        r = admin.post("/api/v1/exchange/access", json={"service": "%s/%s/%s" % (provider.member, provider.code, code),
                                                        "client": client.id})
        assert r.status_code == 201, r.text
    ctx = {"server": s, "backend": be, "admin": admin, "provider": provider, "client": client,
           "stranger": stranger, "base": "/x/%s/%s" % (provider.member, provider.code)}
    yield ctx
    be.close()
    s.close()
    shutil.rmtree(tmp, ignore_errors=True)


def server_key(s):
    k = s.get("/api/v1/exchange/key").json()
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(k["public_key"]))


def check_response_signature(s, r, request_signature):
    canon = "\n".join(["tinhso-x-road-response-v1", r.headers["X-Road-Message-Id"], request_signature,
                       str(r.status_code), hashlib.sha256(r.content).hexdigest(), r.headers["X-Road-Response-Time"]])
    server_key(s).verify(bytes.fromhex(r.headers["X-Road-Response-Signature"]), canon.encode())


def gateway_error(r, status, code):
    assert r.status_code == status, "%d %s" % (r.status_code, r.text)
    assert r.headers.get("X-Road-Error") == code, r.headers
    body = r.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body


# ---------------------------------------------------------------- registry

def test_registry_api_audit_and_validation(lgsp):
    s, admin, p = lgsp["server"], lgsp["admin"], lgsp["provider"]
    r = admin.get("/api/v1/exchange/services?member=" + p.member)
    assert r.status_code == 200
    codes = {x["code"]: x for x in r.json()["items"]}
    assert codes["records"]["personal_data"] is True and codes["records"]["methods"] == ["GET", "POST"]
    assert codes["records"]["gateway_path"] == "/x/%s/%s/records" % (p.member, p.code)
    r = admin.get("/api/v1/exchange/services/%s/%s/records/openapi" % (p.member, p.code))
    assert r.status_code == 200 and r.json()["openapi"] == "3.0.3"
    r = admin.get("/api/v1/exchange/access?client=" + lgsp["client"].id)
    assert len(r.json()["items"]) == 3
    # every change is audited
    r = admin.get("/api/v1/audit?action=exchange.access.create")
    assert r.status_code == 200 and r.json()["total"] >= 3, r.text
    r = admin.get("/api/v1/audit?action=exchange.subsystem.create")
    assert r.json()["total"] >= 3
    # bad input names the field; duplicates conflict; non-admins are refused
    assert_error(admin.post("/api/v1/exchange/subsystems", json={"member": p.member, "code": "X", "name": "x",
                                                                 "public_key": "zz"}), 422, "invalid", "public_key")
    assert_error(admin.post("/api/v1/exchange/services", json={"member": p.member, "subsystem": p.code, "code": "y",
                                                               "description": "d", "backend_url": "ftp://x"}),
                 422, "invalid", "backend_url")
    assert_error(admin.post("/api/v1/exchange/services", json={"member": p.member, "subsystem": p.code, "code": "y",
                                                               "description": "d", "backend_url": "http://x",
                                                               "methods": ["FETCH"]}), 422, "invalid", "methods")
    assert_error(admin.post("/api/v1/exchange/members", json={"code": p.member, "name": "again"}), 409, "conflict")
    assert_error(admin.delete("/api/v1/exchange/members/" + p.member), 409, "conflict")
    citizen = s.login(CITIZEN, DEMO_PASSWORD)
    assert_error(citizen.get("/api/v1/exchange/members"), 403, "forbidden")
    # PUT replaces; the same content again changes nothing (no new audit entry)
    body = {"name": "Sở Tài chính tỉnh Hải Dương"}
    assert admin.put("/api/v1/exchange/members/000.00.05.H23", json=body).status_code == 200
    n1 = admin.get("/api/v1/audit?action=exchange.member.update").json()["total"]
    assert admin.put("/api/v1/exchange/members/000.00.05.H23", json=body).status_code == 200
    assert admin.get("/api/v1/audit?action=exchange.member.update").json()["total"] == n1


def test_cli_registry_commands(lgsp):
    s = lgsp["server"]
    sub = Subsystem("BCA", "CSDLQGDC")
    r = s.cli("exchange", "member", "add", "--code", "BCA", "--name", "Bộ Công an")
    assert "member BCA" in r.stdout
    s.cli("exchange", "subsystem", "add", "--member", "BCA", "--code", "CSDLQGDC", "--name", "CSDL dân cư",
          "--public-key", sub.pub)
    s.cli("exchange", "service", "add", "--member", "BCA", "--subsystem", "CSDLQGDC", "--code", "citizen",
          "--description", "Tra cứu công dân", "--backend-url", lgsp["backend"].url, "--methods", "GET",
          "--personal-data")
    s.cli("exchange", "access", "add", "--service", "BCA/CSDLQGDC/citizen", "--client", lgsp["client"].id)
    assert "BCA/CSDLQGDC/citizen" in s.cli("exchange", "service", "list", "--member", "BCA").stdout
    assert lgsp["client"].id in s.cli("exchange", "access", "list", "--service", "BCA/CSDLQGDC/citizen").stdout
    r = s.cli("exchange", "member", "add", "--code", "BCA", "--name", "again", check=False)
    assert r.returncode == 65 and "already exists" in r.stderr
    r = s.cli("exchange", "subsystem", "add", "--member", "BCA", "--code", "K", "--name", "k", "--public-key", "00",
              check=False)
    assert r.returncode == 65 and "public_key" in r.stderr
    # the CLI's change reaches the running gateway (registry version check)
    r = lgsp["client"].request(s, "GET", "/x/BCA/CSDLQGDC/citizen/" + CITIZEN, purpose="kiểm tra CLI")
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- gateway

def test_allowed_call_forwards_and_signs(lgsp):
    s, be, c = lgsp["server"], lgsp["backend"], lgsp["client"]
    path = lgsp["base"] + "/records/citizens/" + CITIZEN + "/phiếu số 1"
    params = [("loai", "2"), ("ghi chú", "a&b=c"), ("x", "")]
    h, _ = c.sign_headers("GET", path, params, purpose="Cấp phiếu LLTP cho hồ sơ 000.00.31.H23-250314-0001",
                          subject=CITIZEN)
    r = c.request(s, "GET", path, params, purpose="Cấp phiếu LLTP cho hồ sơ 000.00.31.H23-250314-0001",
                  subject=CITIZEN)
    assert r.status_code == 200, r.text
    assert "X-Road-Error" not in r.headers
    doc = r.json()
    assert doc["path"] == "/base/citizens/%s/phiếu số 1" % CITIZEN
    assert doc["query"] == [["loai", "2"], ["ghi chú", "a&b=c"], ["x", ""]]
    assert doc["client"] == c.id and doc["subject"] == CITIZEN
    assert doc["purpose"] == "Cấp phiếu LLTP cho hồ sơ 000.00.31.H23-250314-0001"
    assert doc["message_id"] == r.headers["X-Road-Message-Id"]
    last = be.hits[-1]
    assert "X-Road-Signature" not in last["headers"]
    # the answer is signed by the platform over the client's request signature
    sig = r.request.headers["X-Road-Signature"]
    check_response_signature(s, r, sig)
    # POST with a JSON body; HEAD-less methods; the backend's own errors pass through untouched
    body = json.dumps({"ho_ten": "Nguyễn Văn A"}).encode()
    r = c.request(s, "POST", lgsp["base"] + "/records/echo", body=body, purpose="tra cứu",
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.content == body and r.headers["Content-Type"].startswith("application/json")
    r = c.request(s, "GET", lgsp["base"] + "/public/status/404")
    assert r.status_code == 404 and "X-Road-Error" not in r.headers and r.json() == {"backend": "says no"}
    check_response_signature(s, r, r.request.headers["X-Road-Signature"])
    r = c.request(s, "DELETE", lgsp["base"] + "/public/thing/1")
    assert r.status_code == 200 and r.json()["method"] == "DELETE"
    r = c.request(s, "GET", lgsp["base"] + "/public")  # the service root
    assert r.status_code == 200 and r.json()["path"] == "/base"


def test_refusals_are_gateway_errors_and_nothing_is_forwarded(lgsp):
    s, be, c, stranger = lgsp["server"], lgsp["backend"], lgsp["client"], lgsp["stranger"]
    base = lgsp["base"]
    before = len(be.hits)
    # unsigned
    r = requests.get(s.url(base + "/public/a"), timeout=10)
    gateway_error(r, 401, "exchange.unsigned")
    assert "X-Road-Client" in r.json()["error"]["message"]
    # no access right
    gateway_error(stranger.request(s, "GET", base + "/public/a"), 403, "exchange.access_denied")
    # unknown service, unknown client
    gateway_error(c.request(s, "GET", base + "/nosuch/a"), 404, "exchange.unknown_service")
    ghost = Subsystem("000.00.31.H23", "GHOST")
    gateway_error(ghost.request(s, "GET", base + "/public/a"), 401, "exchange.unknown_client")
    # tampered: signed one body, sent another
    h, _ = c.sign_headers("POST", base + "/public/echo", body=b'{"amount":1}')
    r = requests.post(s.url(base + "/public/echo"), headers=h, data=b'{"amount":9}', timeout=10)
    gateway_error(r, 401, "exchange.bad_signature")
    # tampered signature bytes
    h, _ = c.sign_headers("GET", base + "/public/a")
    h["X-Road-Signature"] = ("0" if h["X-Road-Signature"][0] != "0" else "1") + h["X-Road-Signature"][1:]
    gateway_error(requests.get(s.url(base + "/public/a"), headers=h, timeout=10), 401, "exchange.bad_signature")
    # signed by another subsystem's key
    h, _ = stranger.sign_headers("GET", base + "/public/a")
    h["X-Road-Client"] = c.id
    gateway_error(requests.get(s.url(base + "/public/a"), headers=h, timeout=10), 401, "exchange.bad_signature")
    # replayed
    h, _ = c.sign_headers("GET", base + "/public/replay")
    assert requests.get(s.url(base + "/public/replay"), headers=h, timeout=10).status_code == 200
    forwarded = len(be.hits)
    gateway_error(requests.get(s.url(base + "/public/replay"), headers=h, timeout=10), 409, "exchange.replay")
    assert len(be.hits) == forwarded
    # stale and future times (RFC 3339 accepted too)
    old = str(int((time.time() - 600) * 1000))
    gateway_error(c.request(s, "GET", base + "/public/a", t=old), 401, "exchange.stale")
    future = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 600))
    gateway_error(c.request(s, "GET", base + "/public/a", t=future), 401, "exchange.stale")
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time()))
    assert c.request(s, "GET", base + "/public/rfc3339", t=now).status_code == 200
    # personal data needs a purpose; a subject must be a CCCD
    gateway_error(c.request(s, "GET", base + "/records/citizens/" + CITIZEN), 400, "exchange.purpose_required")
    gateway_error(c.request(s, "GET", base + "/records/x", purpose="p", subject="12345"), 400, "exchange.bad_subject")
    # method not offered
    gateway_error(c.request(s, "PUT", base + "/records/x", purpose="p"), 405, "exchange.method_not_allowed")
    # malformed nonce
    gateway_error(c.request(s, "GET", base + "/public/a", nonce="short"), 401, "exchange.unsigned")
    # no way out of the service's base path on the backend's host
    h, _ = c.sign_headers("GET", base + "/public/../../admin")
    r = requests.get(s.url(base + "/public/%2e%2e/%2e%2e/admin"), headers=h, timeout=10)
    gateway_error(r, 400, "exchange.bad_path")
    forwarded_expected = forwarded + 1  # the rfc3339 call
    assert len(be.hits) == forwarded_expected, be.hits[before:]
    # every refusal is in the message log
    log = lgsp["admin"].get("/api/v1/exchange/log?per_page=200").json()["items"]
    errors = {x["error"] for x in log if x["error"]}
    for code in ("exchange.unsigned", "exchange.access_denied", "exchange.unknown_service", "exchange.bad_signature",
                 "exchange.replay", "exchange.stale", "exchange.purpose_required", "exchange.unknown_client"):
        assert code in errors, code


def test_backend_down_and_slow(lgsp):
    s, c, base = lgsp["server"], lgsp["client"], lgsp["base"]
    r = c.request(s, "GET", base + "/down/a")
    body = gateway_error(r, 502, "exchange.backend_unavailable")
    assert "backend" in body["error"]["message"]
    t0 = time.time()
    r = c.request(s, "GET", base + "/records/slow", purpose="kiểm tra chậm")
    body = gateway_error(r, 504, "exchange.backend_timeout")
    assert "800 ms" in body["error"]["message"]
    assert time.time() - t0 < 2.5
    r = c.request(s, "GET", base + "/public/big", [("n", str(30 * 1024 * 1024))])
    gateway_error(r, 502, "exchange.response_too_large")
    # the gateway stays healthy afterwards
    assert c.request(s, "GET", base + "/public/ok").status_code == 200


def test_large_payloads(lgsp):
    s, be, c, base = lgsp["server"], lgsp["backend"], lgsp["client"], lgsp["base"]
    big = os.urandom(20 * 1024 * 1024)
    r = c.request(s, "POST", base + "/public/echo", body=big, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text[:300]
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(big).hexdigest()
    assert be.hits[-1]["body_len"] == len(big)
    check_response_signature(s, r, r.request.headers["X-Road-Signature"])
    n = len(be.hits)
    too_big = b"y" * (26 * 1024 * 1024)
    r = c.request(s, "POST", base + "/public/echo", body=too_big)
    gateway_error(r, 413, "exchange.too_large")
    assert len(be.hits) == n
    r = c.request(s, "GET", base + "/public/big", [("n", str(10 * 1024 * 1024))])
    assert r.status_code == 200 and len(r.content) == 10 * 1024 * 1024


def test_tracker_shows_who_accessed_my_data(lgsp):
    s, c, base = lgsp["server"], lgsp["client"], lgsp["base"]
    purpose = "Xác minh lý lịch cho hồ sơ cấp phép kinh doanh"
    assert c.request(s, "GET", base + "/records/citizens/" + CITIZEN, purpose=purpose, subject=CITIZEN).status_code == 200
    # a refused attempt is not an access to the data
    lgsp["stranger"].request(s, "GET", base + "/records/citizens/" + CITIZEN, purpose="tò mò", subject=CITIZEN)
    citizen = s.login(CITIZEN, DEMO_PASSWORD)
    r = citizen.get("/api/v1/me/data-access")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    mine = [x for x in items if x["purpose"] == purpose]
    assert mine, items
    x = mine[0]
    assert x["agency"]["member"] == "000.00.31.H23" and x["agency"]["subsystem"] == "MOTCUA"
    assert x["agency"]["name"] == "Trung tâm Phục vụ hành chính công"
    assert x["service"].endswith("/records") and x["service_description"] == "Phiếu lý lịch tư pháp"
    assert x["at"].endswith("+07:00")
    assert not [y for y in items if y["purpose"] == "tò mò"]
    assert_error(lgsp["admin"].get("/api/v1/me/data-access"), 403, "forbidden")
    assert_error(requests.get(s.url("/api/v1/me/data-access"), timeout=10), 401, "unauthenticated")


def test_stats_and_metrics(lgsp):
    s, admin, c, base = lgsp["server"], lgsp["admin"], lgsp["client"], lgsp["base"]
    for _ in range(3):
        assert c.request(s, "GET", base + "/public/m").status_code == 200
    svc = base[3:] + "/public"
    m = s.get("/metrics").text
    assert 'tinhso_exchange_service_requests_total{service="%s",outcome="ok"}' % svc in m
    assert 'tinhso_exchange_client_requests_total{client="%s",outcome="ok"}' % c.id in m
    assert 'tinhso_exchange_service_duration_seconds_bucket{service="%s",le="+Inf"}' % svc in m
    assert "tinhso_exchange_log_records_total" in m
    r = admin.get("/api/v1/exchange/stats")
    assert r.status_code == 200, r.text
    st = r.json()
    row = [x for x in st["services"] if x["service"] == svc][0]
    assert row["requests"] >= 3 and row["mean_ms"] >= 0
    down = [x for x in st["services"] if x["service"].endswith("/down")]
    assert down and down[0]["failed"] >= 1
    assert [x for x in st["clients"] if x["client"] == c.id]
    assert [x for x in st["node"]["services"] if x["service"] == svc][0]["p50_ms_le"] > 0
    # a date as 'to' includes that whole day (it once meant its midnight, leaving today out)
    import datetime
    today = (datetime.datetime.utcnow() + datetime.timedelta(hours=7)).date().isoformat()
    r = admin.get("/api/v1/exchange/stats", params={"from": today, "to": today})
    assert r.status_code == 200, r.text
    assert [x for x in r.json()["services"] if x["service"] == svc][0]["requests"] >= 3
    assert_error(admin.get("/api/v1/exchange/stats", params={"to": "yesterday"}), 422, "invalid", "to")


def test_connectivity_figure(lgsp):
    s, admin = lgsp["server"], lgsp["admin"]
    r = s.get("/api/v1/exchange/connectivity")
    assert r.status_code == 200, r.text
    before = r.json()
    assert before["departments"] == 18 and before["target_percent"] == 70
    connected = {d["code"] for d in before["connected_departments"]}
    # the Department of Justice provides records to the service centre (not a department)
    assert "000.00.03.H23" in connected
    assert "000.00.05.H23" not in connected  # registered, but neither provides nor consumes
    # connect twelve more departments as consumers of the public statistics
    svc = lgsp["base"][3:] + "/public"
    for code in DEPARTMENTS[5:17]:
        admin.post("/api/v1/exchange/members", json={"code": code, "name": "Sở " + code})
        sub = Subsystem(code, "QLVB")
        assert admin.post("/api/v1/exchange/subsystems", json={"member": code, "code": "QLVB", "name": "QLVB",
                                                               "public_key": sub.pub}).status_code == 201
        assert admin.post("/api/v1/exchange/access", json={"service": svc, "client": code + "/QLVB"}).status_code == 201
    after = s.get("/api/v1/exchange/connectivity").json()
    assert after["connected"] == len(connected) + 12
    assert after["percent"] == round(100.0 * after["connected"] / 18, 1)
    assert after["meets_target"] == (after["percent"] >= 70)
    assert len(after["connected_departments"]) + len(after["not_connected"]) == 18


# ---------------------------------------------------------------- message log

def test_message_log_verify_export_and_tamper(make_server):
    s = make_server()
    be = Backend()
    try:
        admin = s.admin()
        c = Subsystem("000.00.31.H23", "MOTCUA")
        admin.post("/api/v1/exchange/members", json={"code": "000.00.31.H23", "name": "TTPVHCC"})
        admin.post("/api/v1/exchange/subsystems", json={"member": "000.00.31.H23", "code": "MOTCUA", "name": "MC",
                                                        "public_key": c.pub})
        admin.post("/api/v1/exchange/services", json={"member": "000.00.31.H23", "subsystem": "MOTCUA", "code": "s",
                                                      "description": "d", "backend_url": be.url})
        admin.post("/api/v1/exchange/access", json={"service": "000.00.31.H23/MOTCUA/s", "client": c.id})
        for i in range(6):
            assert c.request(s, "GET", "/x/000.00.31.H23/MOTCUA/s/%d" % i).status_code == 200
        requests.get(s.url("/x/000.00.31.H23/MOTCUA/s/unsigned"), timeout=10)
        r = s.cli("exchange", "verify-log")
        assert "intact: 7 records" in r.stdout, r.stdout
        out = os.path.join(s.dir, "export.jsonl")
        r = s.cli("exchange", "export-log", "--from", "2020-01-01", "--to", "2100-01-01", out)
        assert "exported 7 records" in r.stdout
        pub = s.get("/api/v1/exchange/key").json()["public_key"]
        r = s.cli("exchange", "verify-export", out, "--public-key", pub)
        assert "export intact: 7 records" in r.stdout
        # a third party with the key alone (python, as in docs/exchange.md)
        assert verify_export_py(out, pub) == 7
        # an altered export is caught, by the CLI and by python
        lines = open(out).read().splitlines()
        rec = json.loads(lines[3])
        rec["status"] = 201
        lines[3] = json.dumps(rec)
        bad = os.path.join(s.dir, "bad.jsonl")
        open(bad, "w").write("\n".join(lines) + "\n")
        r = s.cli("exchange", "verify-export", bad, "--public-key", pub, check=False)
        assert r.returncode != 0 and "record 3" in r.stdout, r.stdout
        with pytest.raises(Exception):
            verify_export_py(bad, pub)
        cut = os.path.join(s.dir, "cut.jsonl")
        open(cut, "w").write("\n".join(open(out).read().splitlines()[:-2]) + "\n")
        r = s.cli("exchange", "verify-export", cut, "--public-key", pub, check=False)
        assert r.returncode != 0
        # another key does not verify it
        r = s.cli("exchange", "verify-export", out, "--public-key", "11" * 32, check=False)
        assert r.returncode != 0
        # altering the database is detected, naming the first bad record
        s.sql("UPDATE exchange_log SET purpose = 'sửa đổi' WHERE seq = 4")
        r = s.cli("exchange", "verify-log", check=False)
        assert r.returncode == 65 and "record 4" in r.stdout, (r.stdout, r.stderr)
        s.sql("UPDATE exchange_log SET purpose = NULL WHERE seq = 4")
        assert s.cli("exchange", "verify-log").returncode == 0
        s.sql("DELETE FROM exchange_log WHERE seq = 7")
        r = s.cli("exchange", "verify-log", check=False)
        assert r.returncode == 65 and "record 7" in r.stdout, r.stdout
    finally:
        be.close()


def verify_export_py(path, public_key_hex):
    """The third party's verifier of docs/exchange.md."""
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
    lines = [json.loads(x) for x in open(path, encoding="utf-8")]
    head, recs, end = lines[0], lines[1:-1], lines[-1]
    assert head["type"] == "tinhso-exchange-log-export" and end["type"] == "end"
    prev, seq = head["anchor"]["hash"], head["anchor"]["seq"]

    def field(v):
        return "-|" if v is None else "%d:%s|" % (len(v.encode()), v)

    for r in recs:
        seq += 1
        assert r["seq"] == seq and r["prev_hash"] == prev, r["seq"]
        s = "tinhso-xlog-v1|%d|%d|%d|%d|" % (r["seq"], r["at"], r["status"], r["duration_us"])
        for k in ("prev_hash", "id", "client", "service", "method", "path", "query", "purpose", "subject",
                  "request_time", "nonce", "request_digest", "request_signature", "response_digest",
                  "response_signature", "error"):
            s += field(r[k])
        h = hashlib.sha256(s.encode()).hexdigest()
        assert h == r["hash"], r["seq"]
        if r["signature"]:  # the last record of each commit group; the end line covers the rest
            key.verify(bytes.fromhex(r["signature"]), h.encode())
        prev = h
    canon = "tinhso-xlog-export-v1\n%d\n%d\n%d\n%d\n%s\n%s\n%d" % (
        head["from"], head["to"], end["first_seq"], end["last_seq"], head["anchor"]["hash"], prev, len(recs))
    assert end["records"] == len(recs) and end["last_hash"] == prev
    key.verify(bytes.fromhex(end["signature"]), canon.encode())
    return len(recs)


# ---------------------------------------------------------------- asynchronous exchange

def async_setup(s, receiver_endpoint):
    admin = s.admin()
    sender = Subsystem("000.00.03.H23", "QLVB")
    rcv = Subsystem("000.00.10.H23", "QLVB")
    for code in ("000.00.03.H23", "000.00.10.H23"):
        admin.post("/api/v1/exchange/members", json={"code": code, "name": "Sở " + code})
    for sub in (sender, rcv):
        body = {"member": sub.member, "code": sub.code, "name": "Quản lý văn bản", "public_key": sub.pub}
        if sub is rcv and receiver_endpoint:
            body["endpoint"] = receiver_endpoint
        r = admin.post("/api/v1/exchange/subsystems", json=body)
        assert r.status_code == 201, r.text
    return sender, rcv


def send_doc(s, sender, receiver, ref, doc):
    body = json.dumps(doc, ensure_ascii=False).encode()
    return sender.request(s, "POST", "/x-async/messages", body=body,
                          headers={"X-Road-To": receiver.id, "X-Road-Message-Ref": ref,
                                   "X-Road-Message-Type": "cong-van", "Content-Type": "application/json"})


def test_async_push_survives_restarts_in_order_exactly_once(make_server):
    port = free_port()
    s = make_server()
    sender, rcv = async_setup(s, "http://127.0.0.1:%d/inbox" % port)
    # the receiver is down: five documents are queued, acknowledged to the sender
    ids = []
    for i in range(1, 6):
        r = send_doc(s, sender, rcv, "CV-%d" % i, {"so": i, "trich_yeu": "Công văn số %d" % i})
        assert r.status_code == 202, r.text
        assert r.json()["seq"] == i
        ids.append(r.json()["id"])
    # the sender retries one (its answer was lost): the same message, nothing new
    r = send_doc(s, sender, rcv, "CV-3", {"so": 3, "trich_yeu": "Công văn số 3"})
    assert r.status_code == 200 and r.json()["id"] == ids[2] and r.json()["duplicate"] is True
    r = send_doc(s, sender, rcv, "CV-3", {"so": 3, "trich_yeu": "khác"})
    gateway_error(r, 409, "exchange.ref_reused")
    # the platform crashes and comes back
    assert s.stop(signal.SIGKILL) is not None
    s.start()
    # the receiver starts; it processes message 2 but its acknowledgement is lost once
    recv = Receiver(port)
    recv.fail_once_after_processing.add(2)
    try:
        assert wait_for(lambda: len(recv.processed) >= 5, timeout=60), recv.deliveries
        # the platform restarts again while the receiver restarts too: nothing more arrives twice
        s.stop()
        recv.stop()
        recv.start()
        s.start()
        r = send_doc(s, sender, rcv, "CV-6", {"so": 6})
        assert r.status_code == 202 and r.json()["seq"] == 6
        assert wait_for(lambda: len(recv.processed) >= 6, timeout=60), recv.deliveries
        time.sleep(1.5)
        seqs = [p[1] for p in recv.processed]
        assert seqs == [1, 2, 3, 4, 5, 6], seqs
        assert [p[2] for p in recv.processed[:5]] == ids
        assert recv.order_violations == []
        assert len([d for d in recv.deliveries if d[1] == 2]) == 2  # pushed again after the lost ack
        first = recv.processed[0]
        assert json.loads(first[3]) == {"so": 1, "trich_yeu": "Công văn số 1"}
        # the push is signed by the platform
        h = first[4]
        canon = "tinhso-x-async-push-v1\n%s\n%s\n%s\n%s\n%s\n%s" % (
            h["X-Road-Message-Id"], h["X-Road-Sender"], h["X-Road-Receiver"], h["X-Road-Seq"],
            hashlib.sha256(first[3]).hexdigest(), h["X-Road-Time"])
        server_key(s).verify(bytes.fromhex(h["X-Road-Signature"]), canon.encode())
        # the sender sees each delivered
        r = sender.request(s, "GET", "/x-async/messages/" + ids[1])
        assert r.status_code == 200 and r.json()["status"] == "delivered" and r.json()["delivered_via"] == "push"
        assert r.json()["attempts"] >= 2
        r = s.admin().get("/api/v1/exchange/messages?status=queued")
        assert r.json()["total"] == 0
    finally:
        recv.stop()


def test_async_pull_inbox_across_restart(make_server):
    s = make_server()
    sender, rcv = async_setup(s, None)
    ids = [send_doc(s, sender, rcv, "P-%d" % i, {"n": i}).json()["id"] for i in range(1, 4)]
    s.stop(signal.SIGKILL)
    s.start()
    r = rcv.request(s, "GET", "/x-async/inbox")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [x["id"] for x in items] == ids and [x["seq"] for x in items] == [1, 2, 3]
    import base64
    assert json.loads(base64.b64decode(items[0]["document_base64"])) == {"n": 1}
    assert items[0]["body_digest"] == hashlib.sha256(base64.b64decode(items[0]["document_base64"])).hexdigest()
    # the sender cannot read the receiver's inbox, and cannot acknowledge for it
    assert sender.request(s, "GET", "/x-async/inbox").json()["items"] == []
    gateway_error(sender.request(s, "POST", "/x-async/inbox/%s/ack" % ids[0]), 404, "exchange.unknown_message")
    r = rcv.request(s, "POST", "/x-async/inbox/%s/ack" % ids[0])
    assert r.status_code == 200 and r.json()["already"] is False
    r = rcv.request(s, "POST", "/x-async/inbox/%s/ack" % ids[0])
    assert r.status_code == 200 and r.json()["already"] is True
    s.stop()
    s.start()
    items = rcv.request(s, "GET", "/x-async/inbox").json()["items"]
    assert [x["id"] for x in items] == ids[1:]
    for x in items:
        assert rcv.request(s, "POST", "/x-async/inbox/%s/ack" % x["id"]).status_code == 200
    assert rcv.request(s, "GET", "/x-async/inbox").json()["items"] == []
    # unsigned or unknown receivers are refused
    gateway_error(requests.get(s.url("/x-async/inbox"), timeout=10), 401, "exchange.unsigned")
    ghost = Subsystem("000.00.99.H23", "X")
    r = send_doc(s, sender, ghost, "G-1", {})
    gateway_error(r, 404, "exchange.unknown_receiver")
