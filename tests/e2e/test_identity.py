"""Identity: registration, login, sessions, CSRF, TOTP, throttling, scope."""
import time

import requests

from conftest import DEMO_PASSWORD, PASSWORD, assert_error, totp


def register(server, cccd="030200001111", **over):
    body = {"id_number": cccd, "full_name": "Phạm Thị Thu Hương", "phone": "0987654321",
            "email": "huong@example.vn", "password": PASSWORD}
    body.update(over)
    return server.post("/api/v1/citizens", json=body)


def test_citizen_registration(server):
    r = register(server)
    assert r.status_code == 201, r.text
    u = r.json()
    assert u["role"] == "citizen" and u["username"] == "030200001111" and u["full_name"] == "Phạm Thị Thu Hương"
    assert "password" not in r.text and "hash" not in r.text
    assert_error(register(server), 409, "conflict")
    c = server.login("030200001111")
    me = c.get("/api/v1/auth/me").json()
    assert me["user"]["username"] == "030200001111"


def test_registration_validation(server):
    r = register(server, cccd="12345", phone="12", email="not-an-email", password="short", full_name="")
    body = assert_error(r, 422, "invalid")
    assert {"id_number", "phone", "email", "password", "full_name"} <= set(body["error"]["details"]["fields"])
    assert_error(register(server, cccd="030200002222", password="password123"), 422, "invalid", "password")
    assert_error(register(server, cccd="030200002222", password="a" * 200), 422, "invalid", "password")
    assert_error(register(server, cccd="030200002222", extra=1), 422, "invalid", "extra")
    # a long passphrase is fine
    r = register(server, cccd="030200003333", password="một câu mật khẩu rất dài và dễ nhớ " * 2)
    assert r.status_code == 201, r.text


def test_login_logout_and_cookie(server):
    r = server.post("/api/v1/auth/login", json={"username": "canbo.thd", "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token"] and body["csrf_token"] and body["user"]["role"] == "official"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    h = {"Authorization": "Bearer " + body["token"]}
    assert requests.get(server.url("/api/v1/auth/me"), headers=h).status_code == 200
    assert requests.post(server.url("/api/v1/auth/logout"), headers=h).status_code in (200, 204)
    assert_error(requests.get(server.url("/api/v1/auth/me"), headers=h), 401, "unauthenticated")


def test_wrong_password_same_answer(server):
    a = server.post("/api/v1/auth/login", json={"username": "canbo.thd", "password": "wrong-password-1"})
    b = server.post("/api/v1/auth/login", json={"username": "nobody.here", "password": "wrong-password-1"})
    assert_error(a, 401, "unauthenticated")
    assert_error(b, 401, "unauthenticated")
    assert a.json()["error"]["message"] == b.json()["error"]["message"]


def test_csrf_on_cookie_sessions(server):
    sess = requests.Session()
    r = sess.post(server.url("/api/v1/auth/login"), json={"username": "canbo.tphd", "password": DEMO_PASSWORD})
    assert r.status_code == 200
    csrf = r.json()["csrf_token"]
    # cookie-authenticated read works without a token
    assert sess.get(server.url("/api/v1/auth/me")).status_code == 200
    # a cookie-authenticated write without the CSRF token is refused
    assert_error(sess.post(server.url("/api/v1/auth/logout")), 403, "forbidden")
    assert_error(sess.post(server.url("/api/v1/auth/logout"), headers={"X-CSRF-Token": "x" * len(csrf)}), 403,
                 "forbidden")
    assert sess.post(server.url("/api/v1/auth/logout"), headers={"X-CSRF-Token": csrf}).status_code in (200, 204)
    assert_error(sess.get(server.url("/api/v1/auth/me")), 401, "unauthenticated")


def test_admin_needs_totp(server):
    r = server.post("/api/v1/auth/login", json={"username": "admin", "password": DEMO_PASSWORD})
    assert_error(r, 401, "unauthenticated")
    assert "TOTP" in r.json()["error"]["message"]
    r = server.post("/api/v1/auth/login", json={"username": "admin", "password": DEMO_PASSWORD, "totp": "000000"})
    if r.status_code == 200:  # one in a million: the code happened to be right
        return
    assert_error(r, 401, "unauthenticated")
    server.admin()  # a right code works (used once per server by the harness)


def test_totp_enrolment_for_citizen(server):
    register(server, cccd="030200004444")
    c = server.login("030200004444")
    r = c.post("/api/v1/auth/totp/begin")
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    assert r.json()["otpauth_uri"].startswith("otpauth://totp/")
    assert_error(c.post("/api/v1/auth/totp/confirm", json={"code": "12345x"}), 422, "invalid", "code")
    assert c.post("/api/v1/auth/totp/confirm", json={"code": totp(secret)}).status_code in (200, 204)
    # now a password alone is not enough
    r = server.post("/api/v1/auth/login", json={"username": "030200004444", "password": PASSWORD})
    assert_error(r, 401, "unauthenticated")
    # and a code cannot be replayed
    code = totp(secret, int(time.time()) // 30 + 1)
    ok = server.post("/api/v1/auth/login", json={"username": "030200004444", "password": PASSWORD, "totp": code})
    assert ok.status_code == 200, ok.text
    again = server.post("/api/v1/auth/login", json={"username": "030200004444", "password": PASSWORD,
                                                     "totp": code})
    assert_error(again, 401, "unauthenticated")


def test_login_throttle(server):
    register(server, cccd="030200005555")
    statuses = []
    for _ in range(8):
        r = server.post("/api/v1/auth/login", json={"username": "030200005555", "password": "wrong-password-x"})
        statuses.append(r.status_code)
    assert 429 in statuses
    r = server.post("/api/v1/auth/login", json={"username": "030200005555", "password": PASSWORD})
    body = assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    # the real user gets back in after a short wait, not a long lock-out
    time.sleep(int(r.headers["Retry-After"]) + 0.5)
    r = server.post("/api/v1/auth/login", json={"username": "030200005555", "password": PASSWORD})
    assert r.status_code == 200, r.text


def test_password_change_ends_sessions(server):
    register(server, cccd="030200006666")
    c1 = server.login("030200006666")
    c2 = server.login("030200006666")
    r = c1.post("/api/v1/users/030200006666/password",
                json={"old_password": PASSWORD, "new_password": "Another-Passw0rd!"})
    assert r.status_code in (200, 204), r.text
    assert_error(c2.get("/api/v1/auth/me"), 401, "unauthenticated")
    server.login("030200006666", "Another-Passw0rd!")


def test_admin_user_management(server):
    admin = server.admin()
    r = admin.post("/api/v1/users", json={"username": "canbo.moi", "role": "official",
                                          "agency_code": "000.02.31.H23", "full_name": "Cán Bộ Mới",
                                          "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = admin.post("/api/v1/users", json={"username": "canbo.sai", "role": "official",
                                          "agency_code": "000.99.99.H23", "full_name": "X", "password": PASSWORD})
    assert_error(r, 422, "invalid", "agency_code")
    users = admin.get("/api/v1/users", params={"role": "official"}).json()
    assert any(u["username"] == "canbo.moi" for u in users["items"])
    c = server.login("canbo.moi")
    assert admin.post("/api/v1/users/canbo.moi/disable").status_code in (200, 204)
    assert_error(c.get("/api/v1/auth/me"), 401, "unauthenticated")
    r = server.post("/api/v1/auth/login", json={"username": "canbo.moi", "password": PASSWORD})
    assert_error(r, 401, "unauthenticated")
    assert admin.post("/api/v1/users/canbo.moi/enable").status_code in (200, 204)
    server.login("canbo.moi")
    # non-admins cannot manage users
    official = server.login("canbo.thd", DEMO_PASSWORD)
    assert_error(official.get("/api/v1/users"), 403, "forbidden")
    assert_error(official.post("/api/v1/users", json={"username": "x", "role": "admin", "full_name": "x",
                                                      "password": PASSWORD}), 403, "forbidden")
