"""The command line: settings, users, audit verification, backup, exit codes."""
import hashlib
import os
import signal
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import BACKEND, PASSWORD, assert_error


def test_version_and_help(make_server):
    s = make_server(demo=False, start=False)
    r = s.cli("version")
    assert r.stdout.startswith("tinhso ")
    r = s.cli("--help")
    for cmd in ["serve", "init", "demo", "user add", "audit verify", "backup", "version"]:
        assert cmd in r.stdout
    r = s.cli("serve", "--help")
    assert "--listen" in r.stdout and "TINHSO_LISTEN" in r.stdout and "--check-config" in r.stdout
    assert s.cli("frobnicate", check=False).returncode == 64
    assert s.cli("serve", "--no-such-flag", check=False).returncode == 64
    assert s.cli("user", "add", "--username", "x", check=False).returncode == 64


def test_check_config(make_server, tmp_path):
    s = make_server(demo=False, start=False)
    assert s.cli("serve", "--check-config").returncode == 0
    r = s.cli("serve", "--check-config", "--listen", "nonsense", check=False)
    assert r.returncode == 78 and "listen" in r.stderr
    r = s.cli("serve", "--check-config", env={"TINHSO_THREADS": "-3"}, check=False)
    assert r.returncode == 78 and "threads" in r.stderr
    ini = tmp_path / "t.ini"
    ini.write_text("[server]\nlisten = 127.0.0.1:9999\nlevels = province,commune\n")
    assert s.cli("serve", "--check-config", "--config", str(ini)).returncode == 0
    ini.write_text("[server]\nlistne = 127.0.0.1:9999\n")
    r = s.cli("serve", "--check-config", "--config", str(ini), check=False)
    assert r.returncode == 78 and "listne" in r.stderr
    ini.write_text("[server]\nmax_body = lots\n")
    r = s.cli("serve", "--check-config", "--config", str(ini), check=False)
    assert r.returncode == 78 and "max_body" in r.stderr



def test_user_duplicate_and_bad(make_server):
    s = make_server(demo=True, start=False)
    s.add_user("canbo.cli", "official", agency="000.08.31.H23")
    r = s.cli("user", "add", "--username", "canbo.cli", "--role", "official", "--agency", "000.08.31.H23",
              "--password-stdin", input=PASSWORD + "\n", check=False)
    assert r.returncode == 65 and "already" in r.stderr
    r = s.cli("user", "add", "--username", "canbo.x2", "--role", "official", "--agency", "000.99.99.H23",
              "--password-stdin", input=PASSWORD + "\n", check=False)
    assert r.returncode == 65 and "agency" in r.stderr
    r = s.cli("user", "add", "--username", "x3", "--role", "citizen", "--password-stdin", input="123\n",
              check=False)
    assert r.returncode == 65
    s.cli("user", "passwd", "canbo.cli", "--password-stdin", input="Brand-New-Passw0rd\n")
    s.cli("user", "disable", "canbo.cli")
    assert "disabled" in s.cli("user", "list").stdout
    s.cli("user", "enable", "canbo.cli")
    s.start()
    s.login("canbo.cli", "Brand-New-Passw0rd")


def test_audit_verify_detects_tampering(make_server):
    s = make_server(demo=True, start=False)
    s.add_user("canbo.a1", "official", agency="000.08.31.H23")
    r = s.cli("audit", "verify")
    assert "intact" in r.stdout
    n = int(s.sql("SELECT count(*) FROM audit_log").strip())
    assert n >= 3
    # alter a change document
    s.sql("UPDATE audit_log SET change = replace(change, 'canbo.a1', 'canbo.zz') WHERE action = 'user.create' "
          "AND change LIKE '%canbo.a1%'")
    r = s.cli("audit", "verify", check=False)
    assert r.returncode != 0 and "BROKEN" in r.stdout
    bad = [x for x in r.stdout.split() if x.isdigit()]
    assert bad


def test_audit_verify_detects_removal_and_reorder(make_server):
    s = make_server(demo=True, start=False)
    for i in range(3):
        s.add_user("canbo.r%d" % i, "official", agency="000.08.31.H23")
    assert s.cli("audit", "verify").returncode == 0
    n = int(s.sql("SELECT max(seq) FROM audit_log").strip())
    # remove the newest entry: the head no longer matches
    s.sql("DELETE FROM audit_log WHERE seq = %d" % n)
    r = s.cli("audit", "verify", check=False)
    assert r.returncode != 0 and ("entry %d" % n) in r.stdout
    s2 = make_server(demo=True, start=False)
    for i in range(3):
        s2.add_user("canbo.r%d" % i, "official", agency="000.08.31.H23")
    # reorder: entries 2 and 3 swap places
    s2.sql("UPDATE audit_log SET seq = -1 WHERE seq = 2")
    s2.sql("UPDATE audit_log SET seq = 2 WHERE seq = 3")
    s2.sql("UPDATE audit_log SET seq = 3 WHERE seq = -1")
    r = s2.cli("audit", "verify", check=False)
    assert r.returncode != 0 and "entry 2" in r.stdout
    s3 = make_server(demo=True, start=False)
    s3.add_user("canbo.r9", "official", agency="000.08.31.H23")
    s3.sql("DELETE FROM audit_log WHERE seq = 1")
    r = s3.cli("audit", "verify", check=False)
    assert r.returncode != 0 and "entry 1" in r.stdout


@pytest.mark.skipif(BACKEND != "sqlite", reason="tinhso backup copies SQLite; PostgreSQL uses pg_dump")
def test_backup_while_serving(make_server, tmp_path):
    s = make_server(demo=True)
    admin = s.admin()
    stop = threading.Event()
    created = []

    def writer():
        i = 0
        while not stop.is_set() and i < 400:
            code = "000.%02d.%02d.H23" % (60 + i // 100, i % 100)
            r = admin.post("/api/v1/agencies", json={"code": code, "name": "Đơn vị %d" % i, "level": "commune",
                                                     "kind": "unit", "parent": "000.00.31.H23"})
            if r.status_code == 201:
                created.append(code)
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    out = tmp_path / "backup.db"
    r = s.cli("backup", str(out))
    stop.set()
    t.join()
    assert "integrity_check ok" in r.stdout
    db = sqlite3.connect(str(out))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    n = db.execute("SELECT count(*) FROM agencies").fetchone()[0]
    assert n >= 267
    # the copy is itself a working installation: its audit chain verifies
    r = s.cli("audit", "verify", env={"TINHSO_DB": "sqlite:" + str(out)})
    assert "intact" in r.stdout


def audit_hash(prev, seq, at_us, actor, action, obj, digest):
    """The entry hash of src/audit/audit.c: each field length-prefixed."""
    b = "tinhso-audit-v1|%d|%d|" % (seq, at_us)
    for f in [prev, actor, action, obj, digest]:
        b += "%d:%s|" % (len(f.encode()), f)
    return hashlib.sha256(b.encode()).hexdigest()


def test_audit_chain_signed_per_commit_and_rehashing_detected(make_server):
    """Writes committed together share one signature on their newest entry; the
    chain never ends unsigned; an attacker who alters an entry and recomputes
    every hash after it (he has no key) breaks the next signature."""
    s = make_server(demo=True)
    admin = s.admin()

    def create(i):
        r = admin.post("/api/v1/agencies", json={"code": "%03d.01.01.H23" % (100 + i), "level": "commune",
                                                 "name": "Xã thử ký nhóm %d" % i, "kind": "unit",
                                                 "parent": "000.00.31.H23"})
        assert r.status_code == 201, r.text

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, range(64)))
    items = admin.get("/api/v1/audit", params={"per_page": 200}).json()["items"][::-1]
    assert items[-1]["signature"] and items[-1]["key_id"]  # the newest entry is signed
    for e in items:
        assert (e["signature"] is None) == (e["key_id"] is None)
    signed = [e for e in items if e["signature"]]
    assert len(signed) >= 1
    if BACKEND == "sqlite":  # 64 creates from 16 threads: the writer commits several at once
        assert len(signed) < len(items), "every entry signed: no group commit happened"
    s.stop()
    assert s.cli("audit", "verify").returncode == 0

    # alter the actor of an early entry of this burst and recompute the chain from it
    rows = s.sql("SELECT seq, at, actor, action, object, change_digest, prev_hash, signature FROM audit_log "
                 "ORDER BY seq").strip().splitlines()
    rows = [r.split("|") for r in rows]
    victim = next(i for i, r in enumerate(rows) if r[3] == "agency.create")
    prev = rows[victim][6]
    for i in range(victim, len(rows)):
        seq, at, actor, action, obj, digest = int(rows[i][0]), int(rows[i][1]), *rows[i][2:6]
        if i == victim:
            actor = "user:0:ke-gia-mao"
            s.sql("UPDATE audit_log SET actor = '%s' WHERE seq = %d" % (actor, seq))
        h = audit_hash(prev, seq, at, actor, action, obj, digest)
        s.sql("UPDATE audit_log SET prev_hash = '%s', hash = '%s' WHERE seq = %d" % (prev, h, seq))
        prev = h
    s.sql("UPDATE audit_head SET hash = '%s' WHERE id = 1" % prev)
    r = s.cli("audit", "verify", check=False)
    assert r.returncode != 0 and "signature does not verify" in r.stdout, r.stdout
    first_signed = next(int(r[0]) for r in rows[victim:] if r[7])
    assert ("entry %d" % first_signed) in r.stdout, r.stdout

    # a fresh chain whose newest entry lost its signature: nothing covers the entries before it
    s2 = make_server(demo=True)
    a2 = s2.admin()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: a2.post("/api/v1/agencies", json={
            "code": "%03d.02.02.H23" % (100 + i), "level": "commune", "name": "Xã thử %d" % i,
            "kind": "unit", "parent": "000.00.31.H23"}).status_code, range(32)))
    s2.stop()
    last = [r.split("|") for r in s2.sql("SELECT seq, prev_hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .strip().splitlines()][0]
    s2.sql("UPDATE audit_log SET signature = NULL, key_id = NULL WHERE seq = %s" % last[0])
    r = s2.cli("audit", "verify", check=False)
    assert r.returncode != 0 and "no signature covers" in r.stdout, r.stdout
