"""The HTTP layer: health, metrics, headers, errors and limits."""
import json
import socket
import time

import requests

from conftest import assert_error


def test_livez_readyz(server):
    r = server.get("/livez")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = server.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_access_log_lines(server):
    """One JSON access line per request; lines are written in batches, but
    within a fraction of a second, without a restart."""
    sent = []
    for path in ("/api/v1/agencies/000.00.31.H23", "/api/v1/agencies?level=district", "/api/v1/no-such-thing"):
        r = server.get(path)
        sent.append((r.headers["X-Request-Id"], r.status_code, path))
    t0 = time.monotonic()
    while True:
        with open(server.log_path, encoding="utf-8") as f:
            lines = [json.loads(x) for x in f if '"type":"access"' in x]
        mine = [x for x in lines if x["request_id"] in {rid for rid, _, _ in sent}]
        if len(mine) >= len(sent) or time.monotonic() - t0 > 5:
            break
        time.sleep(0.05)
    assert time.monotonic() - t0 < 2, "access lines are late"
    assert len(mine) == len(sent)  # one each
    quiet = server.get("/livez").headers["X-Request-Id"]  # health checks are not logged
    by_id = {x["request_id"]: x for x in mine}
    for rid, status, path in sent:
        x = by_id[rid]
        assert (x["method"], x["path"], x["status"], x["level"]) == ("GET", path.split("?")[0], status, "info")
        assert x["ms"] >= 0 and x["ip"] == "127.0.0.1"
    time.sleep(0.5)
    with open(server.log_path, encoding="utf-8") as f:
        assert quiet not in f.read()


def test_security_headers_and_request_id(server):
    r = server.get("/api/v1/agencies/000.00.00.H23")
    assert r.status_code == 200
    h = r.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert h["Referrer-Policy"]
    assert "Strict-Transport-Security" not in h  # plain HTTP
    assert len(h["X-Request-Id"]) >= 16
    assert h["Content-Type"].startswith("application/json")
    # a caller's request id is echoed back when well-formed
    r = server.get("/livez", headers={"X-Request-Id": "trace-abc-12345"})
    assert r.headers["X-Request-Id"] == "trace-abc-12345"
    r = server.get("/livez", headers={"X-Request-Id": "bad id <script>"})
    assert r.headers["X-Request-Id"] != "bad id <script>"


def test_unknown_route_and_method(server):
    assert_error(server.get("/api/v1/nothing-here"), 404, "not_found")
    r = requests.delete(server.url("/api/v1/agencies"))
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers["Allow"] and "POST" in r.headers["Allow"]


def test_metrics(server):
    server.get("/api/v1/agencies/000.00.00.H23")
    server.get("/api/v1/agencies/does.not.exist")
    r = server.get("/metrics")
    assert r.status_code == 200
    text = r.text
    assert 'tinhso_http_requests_total{route="GET /api/v1/agencies/{code}",status="200"}' in text
    assert 'tinhso_http_requests_total{route="GET /api/v1/agencies/{code}",status="404"}' in text
    assert "tinhso_http_request_duration_seconds_bucket" in text
    assert "tinhso_db_errors_total" in text
    assert "tinhso_uptime_seconds" in text


def test_malformed_json(server):
    admin = server.admin()
    h = dict(admin.h)
    h["Content-Type"] = "application/json"
    r = requests.post(server.url("/api/v1/agencies"), data=b'{"code": ', headers=h)
    assert_error(r, 400, "bad_request")
    # invalid UTF-8 inside a string
    r = requests.post(server.url("/api/v1/agencies"), data=b'{"name": "\xff\xfe"}', headers=h)
    body = assert_error(r, 400, "bad_request")
    assert "UTF-8" in body["error"]["message"]
    # duplicate keys
    r = requests.post(server.url("/api/v1/agencies"), data=b'{"name": "a", "name": "b"}', headers=h)
    assert_error(r, 400, "bad_request")
    # too deep
    r = requests.post(server.url("/api/v1/agencies"), data=b"[" * 100 + b"]" * 100, headers=h)
    assert_error(r, 400, "bad_request")
    # not an object
    r = requests.post(server.url("/api/v1/agencies"), data=b"[1,2]", headers=h)
    assert_error(r, 422, "invalid", "body")
    # wrong content type
    r = requests.post(server.url("/api/v1/agencies"), data=b"code=1", headers=admin.h)
    assert_error(r, 415, "unsupported_media_type")


def test_body_too_large(server):
    admin = server.admin()
    big = b'{"name": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    h = dict(admin.h)
    h["Content-Type"] = "application/json"
    r = requests.post(server.url("/api/v1/agencies"), data=big, headers=h)
    assert_error(r, 413, "too_large")
    # the server keeps serving
    assert server.get("/livez").status_code == 200


def test_headers_too_large(server):
    r = requests.get(server.url("/livez"), headers={"X-Big": "b" * 17000})
    assert_error(r, 431, "headers_too_large")
    # far beyond the limit the HTTP library refuses the request before it is parsed
    try:
        r = requests.get(server.url("/livez"), headers={"X-Big": "b" * 200000})
        assert r.status_code == 431
    except requests.ConnectionError:
        pass  # or closes the connection: either way nothing is served
    assert server.get("/livez").status_code == 200


def test_query_validation(server):
    assert_error(server.get("/api/v1/agencies?per_page=500"), 422, "invalid", "per_page")
    assert_error(server.get("/api/v1/agencies?page=0"), 422, "invalid", "page")
    assert_error(server.get("/api/v1/agencies?page=abc"), 422, "invalid", "page")
    r = server.get("/api/v1/agencies?q=%ff%fe")
    assert_error(r, 400, "bad_request")


def test_garbage_request_line(server):
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(b"\x00\x01GARBAGE\r\n\r\n")
    s.settimeout(5)
    try:
        data = s.recv(4096)
    except (ConnectionResetError, socket.timeout):
        data = b""
    s.close()
    assert not data or data.startswith(b"HTTP/1.1 4")
    assert server.get("/livez").status_code == 200
