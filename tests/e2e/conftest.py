"""End-to-end test harness: starts the real `tinhso` binary on a free loopback
port with a temporary database (SQLite file, or a fresh database in the
throwaway PostgreSQL cluster named by TINHSO_TEST_PG_URL) and talks HTTP to it.
The backend comes from TINHSO_TEST_BACKEND (sqlite | postgres)."""
import base64
import hashlib
import hmac
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import uuid

import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("TINHSO_BIN", os.path.join(ROOT, "build", "tinhso"))
BACKEND = os.environ.get("TINHSO_TEST_BACKEND", "sqlite")
PG_URL = os.environ.get("TINHSO_TEST_PG_URL")
PASSWORD = "Test-Passw0rd!"
DEMO_PASSWORD = "HaiDuong@2021"
DEMO_ADMIN_TOTP = "TINHSODEMOADMIN2TINHSODEMOADMIN2"


def totp(secret, step=None):
    """RFC 6238 code for a base32 secret (SHA-1, 6 digits, 30 s)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    if step is None:
        step = int(time.time()) // 30
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 15
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1000000
    return "%06d" % code


def pg_admin_url():
    return re.sub(r"/[^/]*$", "/postgres", PG_URL)


def psql(url, sql):
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", url, "-c", sql],
                          check=True, capture_output=True, text=True).stdout


class Server:
    """One tinhso installation: data dir, database, and (when started) a server."""

    def __init__(self, tmp, env=None):
        self.dir = tmp
        self.data = os.path.join(tmp, "data")
        if BACKEND == "postgres":
            if not PG_URL:
                raise RuntimeError("TINHSO_TEST_PG_URL is not set for the postgres backend")
            name = "t_" + uuid.uuid4().hex[:12]
            psql(pg_admin_url(), "CREATE DATABASE %s" % name)
            self.db = re.sub(r"/[^/]*$", "/" + name, PG_URL)
        else:
            self.db = "sqlite:" + os.path.join(tmp, "tinhso.db")
        self.env = dict(os.environ)
        self.env.update({
            "TINHSO_DB": self.db,
            "TINHSO_DATA": self.data,
            "TINHSO_ARGON2_OPS": "1",
            "TINHSO_ARGON2_MEM_KIB": "8192",
            "TINHSO_LOG_LEVEL": "info",
        })
        self.env.update(env or {})
        self.proc = None
        self.port = None
        self.log_path = os.path.join(tmp, "server.log")

    # -- command line --
    def cli(self, *args, input=None, check=True, env=None):
        e = dict(self.env)
        e.update(env or {})
        r = subprocess.run([BIN] + list(args), input=input, capture_output=True, text=True, env=e, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError("tinhso %s exited %d\nstdout: %s\nstderr: %s"
                                 % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def sql(self, statement):
        """Runs SQL directly on the database (for tampering tests)."""
        if BACKEND == "postgres":
            return psql(self.db, statement)
        return subprocess.run(["sqlite3", self.db[len("sqlite:"):], statement], check=True,
                              capture_output=True, text=True).stdout

    def add_user(self, username, role, agency=None, password=PASSWORD, full_name=None, extra=()):
        args = ["user", "add", "--username", username, "--role", role, "--password-stdin",
                "--full-name", full_name or ("Người dùng " + username)]
        if agency:
            args += ["--agency", agency]
        args += list(extra)
        return self.cli(*args, input=password + "\n")

    # -- server --
    def start(self, *extra):
        assert self.proc is None
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0"] + list(extra), env=self.env,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"https?://127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise AssertionError("server did not start: %r\n%s" % (line, open(self.log_path).read()[-3000:]))
        self.port = int(m.group(1))
        for _ in range(100):
            try:
                if requests.get(self.url("/livez"), timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError("server not live")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if not self.proc:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc.stdout.close()
        self.proc = None
        self.log.close()
        return rc

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get(self, path, **kw):
        return requests.get(self.url(path), timeout=30, **kw)

    def post(self, path, **kw):
        return requests.post(self.url(path), timeout=30, **kw)

    def login(self, username, password=PASSWORD, totp_secret=None):
        body = {"username": username, "password": password}
        if totp_secret:
            body["totp"] = totp(totp_secret)
        r = self.post("/api/v1/auth/login", json=body)
        assert r.status_code == 200, r.text
        return Client(self, r.json()["token"])

    def admin(self):
        """The demo admin, logged in once per server (a TOTP code is accepted only once)."""
        if not getattr(self, "_admin", None):
            for _ in range(3):
                r = self.post("/api/v1/auth/login", json={"username": "admin", "password": DEMO_PASSWORD,
                                                           "totp": totp(DEMO_ADMIN_TOTP)})
                if r.status_code == 200:
                    self._admin = Client(self, r.json()["token"])
                    break
                time.sleep(31 - time.time() % 30)  # this step's code was used: wait for the next
            assert getattr(self, "_admin", None), r.text
        return self._admin

    def close(self):
        if self.proc:
            self.stop(signal.SIGKILL)


class Client:
    """A logged-in API client (bearer token)."""

    def __init__(self, server, token):
        self.s = server
        self.token = token
        self.h = {"Authorization": "Bearer " + token}

    def _headers(self, kw):
        h = dict(self.h)
        h.update(kw.pop("headers", None) or {})
        return h

    def get(self, path, **kw):
        return requests.get(self.s.url(path), headers=self._headers(kw), timeout=30, **kw)

    def post(self, path, **kw):
        return requests.post(self.s.url(path), headers=self._headers(kw), timeout=30, **kw)

    def put(self, path, **kw):
        return requests.put(self.s.url(path), headers=self._headers(kw), timeout=30, **kw)

    def delete(self, path, **kw):
        return requests.delete(self.s.url(path), headers=self._headers(kw), timeout=30, **kw)


@pytest.fixture
def make_server():
    """Factory for fresh installations (init + optional demo), cleaned up afterwards."""
    made = []

    def make(demo=True, start=True, env=None, extra=()):
        tmp = tempfile.mkdtemp(prefix="tinhso-e2e-")
        s = Server(tmp, env)
        made.append((s, tmp))
        s.cli("init")
        if demo:
            s.cli("demo")
        if start:
            s.start(*extra)
        return s

    yield make
    for s, tmp in made:
        s.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    """A demo installation shared by the tests of one module."""
    tmp = tempfile.mkdtemp(prefix="tinhso-e2e-")
    s = Server(tmp)
    s.cli("init")
    s.cli("demo")
    s.start()
    yield s
    s.close()
    shutil.rmtree(tmp, ignore_errors=True)


def assert_error(r, status, code, field=None):
    assert r.status_code == status, "%d %s" % (r.status_code, r.text)
    body = r.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"], body
    assert body["request_id"] == r.headers["X-Request-Id"]
    if field:
        assert field in body["error"]["details"]["fields"], body
    return body
