"""PostgreSQL going away and coming back: /readyz says so, writes fail cleanly
with 503 while it is down, and the server reconnects by itself afterwards."""
import os
import subprocess
import time

import pytest

from conftest import BACKEND, assert_error

pytestmark = [
    pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL only (the SQLite variant is in test_durability.py)"),
    pytest.mark.skipif("TINHSO_TEST_PG_DIR" not in os.environ,
                       reason="needs the cluster directory: run through scripts/test-e2e"),
]


def pg_ctl(action):
    d = os.environ["TINHSO_TEST_PG_DIR"]
    data = os.path.join(d, "data")
    cmd = ["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", data, "-w", "-m", "fast",
           action]
    if action == "start":
        cmd = cmd[:-3] + ["-l", os.path.join(d, "restart.log"), "start"]
    subprocess.run(cmd, check=True, capture_output=True)


def test_database_restart(make_server):
    s = make_server(demo=True)
    admin = s.admin()
    assert s.get("/readyz").status_code == 200
    pg_ctl("stop")
    try:
        r = s.get("/readyz")
        assert_error(r, 503, "unavailable")
        r = admin.post("/api/v1/agencies", json={"code": "000.90.31.H23", "name": "Đơn vị khi mất CSDL",
                                                 "level": "commune", "kind": "unit", "parent": "000.00.31.H23"})
        assert r.status_code == 503, r.text
        assert s.get("/livez").status_code == 200
    finally:
        pg_ctl("start")
    for _ in range(50):
        if s.get("/readyz").status_code == 200:
            break
        time.sleep(0.1)
    assert s.get("/readyz").status_code == 200
    r = admin.post("/api/v1/agencies", json={"code": "000.91.31.H23", "name": "Đơn vị sau khi CSDL trở lại",
                                             "level": "commune", "kind": "unit", "parent": "000.00.31.H23"})
    assert r.status_code == 201, r.text
    # the session survived: it lives in the database, not in the connection
    assert admin.get("/api/v1/auth/me").status_code == 200
