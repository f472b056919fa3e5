"""The server-rendered pages over HTTP: status codes, HTML error pages (never
the JSON shape, never a 500), languages, static files with caching, CSRF on
every form, form errors that keep what was typed, the step-by-step online
application with its server-side draft, the back office's actions, the
receipt's signed QR link, and garbage of every kind a browser can send."""
import json
import re
import uuid

import pytest
import requests

from conftest import DEMO_PASSWORD
from onestop import BIRTH, COMMUNE, PDF, PNG, act, citizen, official, procedure, submit

HTML = "text/html; charset=utf-8"


class Browser:
    """A cookie-keeping client that fills forms the way a browser does."""

    def __init__(self, server, lang=None):
        self.s = server
        self.http = requests.Session()
        self.http.headers["Accept-Language"] = lang or "vi-VN,vi;q=0.9"
        self.last = None

    def get(self, path, **kw):
        kw.setdefault("allow_redirects", True)
        r = self.http.get(self.s.url(path), timeout=30, **kw)
        self.last = r
        return r

    def tokens(self, html=None):
        html = html if html is not None else self.last.text
        t = {}
        m = re.search(r'name="form_token" value="([^"]+)"', html)
        if m:
            t["form_token"] = m.group(1)
        m = re.search(r'name="csrf_token" value="([^"]+)"', html)
        if m:
            t["csrf_token"] = m.group(1)
        return t

    def post(self, path, data=None, files=None, tokens=True, **kw):
        body = dict(self.tokens()) if tokens and self.last is not None else {}
        if isinstance(data, dict):
            body.update(data)
        elif isinstance(data, list):
            body = list(body.items()) + data
        kw.setdefault("allow_redirects", False)
        r = self.http.post(self.s.url(path), data=body, files=files, timeout=30, **kw)
        self.last = r
        return r

    def follow(self, r):
        assert r.status_code == 303, "%d %s" % (r.status_code, r.text[:2000])
        return self.get(r.headers["Location"])

    def login(self, username, password=DEMO_PASSWORD):
        self.get("/dang-nhap")
        r = self.post("/dang-nhap", {"username": username, "password": password})
        assert r.status_code == 303, r.text[:2000]
        return self.follow(r)


def assert_html(r, status):
    assert r.status_code == status, "%d %s" % (r.status_code, r.text[:3000])
    assert r.headers["Content-Type"] == HTML, r.headers
    assert r.text.startswith("<!doctype html>"), r.text[:200]
    return r.text


def error_links(html):
    box = re.search(r'class="error-summary".*?</ul>', html, re.S)
    return re.findall(r'<a href="([^"]+)">', box.group(0)) if box else []


# ---- pages, languages, static files ----

PUBLIC = ["/", "/thu-tuc", "/thu-tuc?q=khai+sinh", "/thu-tuc?level=commune&online=full", "/thu-tuc/" + BIRTH,
          "/thu-tuc/%s/nop" % BIRTH, "/dang-nhap", "/dang-ky", "/tra-cuu", "/huong-dan"]


@pytest.mark.parametrize("path", PUBLIC)
def test_public_pages(server, path):
    b = Browser(server)
    html = assert_html(b.get(path), 200)
    assert '<html lang="vi">' in html
    assert "Cổng Dịch vụ công tỉnh Hải Dương" in html
    assert "Bỏ qua, đến nội dung chính" in html and 'id="main"' in html
    assert "default-src 'self'" in b.last.headers["Content-Security-Policy"]
    assert b.last.headers["Cache-Control"] == "no-store"
    # no inline script or style: the CSP would block them
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"<script(?![^>]*\ssrc=)", html)
    assert "{{" not in html and "errors." not in html


def test_languages(server):
    b = Browser(server, lang="en-GB,en;q=0.8")
    html = assert_html(b.get("/thu-tuc/" + BIRTH), 200)
    assert '<html lang="en">' in html and "Birth registration" in html and "Apply online" in html
    # the switch sets a cookie and comes back to the same page
    r = b.get("/ngon-ngu?lang=vi&next=%2Fthu-tuc%2F" + BIRTH, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/thu-tuc/" + BIRTH
    assert "lang=vi" in r.headers["Set-Cookie"]
    html = assert_html(b.get("/thu-tuc/" + BIRTH), 200)
    assert '<html lang="vi">' in html and "Thủ tục đăng ký khai sinh" in html
    # every page links to the other language, returning to itself
    assert 'href="/ngon-ngu?lang=en&amp;next=%2Fthu-tuc%2F1.001193"' in html
    # the switch never sends anyone elsewhere
    for bad in ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", ""]:
        r = b.get("/ngon-ngu?lang=en&next=" + requests.utils.quote(bad, safe=""), allow_redirects=False)
        assert r.status_code == 303 and r.headers["Location"] == "/", (bad, r.headers)


def test_static_files_are_cached(server):
    html = server.get("/").text
    css = re.search(r'href="(/static/app\.css\?v=[0-9a-f]+)"', html).group(1)
    r = server.get(css)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/css")
    assert "immutable" in r.headers["Cache-Control"]
    etag = r.headers["ETag"]
    r2 = server.get("/static/app.css", headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b""
    assert "max-age=300" in server.get("/static/app.css").headers["Cache-Control"]
    assert server.get("/static/app.js").headers["Content-Type"].startswith("text/javascript")
    assert_html(server.get("/static/none.css"), 404)
    assert_html(server.get("/static/..%2F..%2Fetc%2Fpasswd"), 404)


def test_errors_are_html_pages_outside_the_api(server):
    assert_html(server.get("/khong-co-trang-nay"), 404)
    # the API keeps its JSON errors
    r = server.get("/api/v1/khong-co")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    # a method the page does not take: an HTML 405
    r = requests.put(server.url("/thu-tuc"), data="x", timeout=30)
    assert_html(r, 405)
    r = requests.delete(server.url("/dang-nhap"), timeout=30)
    assert_html(r, 405)
    # a query that is not UTF-8
    assert_html(server.get("/thu-tuc?q=%ff%fe"), 400)


@pytest.mark.parametrize("path", [
    "/thu-tuc?page=-1", "/thu-tuc?page=abc", "/thu-tuc?page=99999999999999", "/thu-tuc?level=mars",
    "/thu-tuc?online=maybe", "/thu-tuc?field=%00", "/thu-tuc?agency=" + "x" * 3000, "/thu-tuc/%3Cscript%3E",
    "/thu-tuc/" + "9" * 500, "/tra-cuu?code=&id_last4=", "/tra-cuu?code=x&id_last4=abcd", "/tra-cuu?sig=zz",
    "/tra-cuu?code=a&r=1&d=2&sig=" + "0" * 128, "/ho-so/abc", "/ho-so-nhap/abc/co-quan", "/can-bo?tab=zzz&page=-5",
    "/quan-tri/ngay-nghi?year=abc", "/ngon-ngu", "/dossiers/x",
])
def test_odd_queries_never_fail(server, path):
    r = server.get(path, allow_redirects=False)
    assert r.status_code < 500, "%s -> %d" % (path, r.status_code)
    if r.status_code != 303:
        assert r.headers["Content-Type"] == HTML


def test_search_text_is_escaped(server):
    html = server.get("/thu-tuc", params={"q": '<script>alert("x")</script>'}).text
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html


# ---- logging in, registering, CSRF ----

def test_login_errors_keep_the_user_name(server):
    b = Browser(server)
    b.get("/dang-nhap")
    r = b.post("/dang-nhap", {"username": "canbo.thd", "password": "wrong-password"})
    html = assert_html(r, 401)
    assert error_links(html) == ["#username"]
    assert 'value="canbo.thd"' in html and "wrong-password" not in html
    r = b.post("/dang-nhap", {"username": "", "password": ""})
    html = assert_html(r, 422)
    assert error_links(html) == ["#username", "#password"]
    # the admin needs a TOTP code: the field appears, named
    r = b.post("/dang-nhap", {"username": "admin", "password": DEMO_PASSWORD})
    html = assert_html(r, 401)
    assert error_links(html) == ["#totp"] and 'id="totp"' in html


def test_login_sets_the_session_and_logout_ends_it(server):
    b = Browser(server)
    b.get("/dang-nhap?next=%2Fho-so-cua-toi")
    r = b.post("/dang-nhap", {"username": "030095001234", "password": DEMO_PASSWORD, "next": "/ho-so-cua-toi"})
    assert r.status_code == 303 and r.headers["Location"] == "/ho-so-cua-toi"
    cookie = r.headers["Set-Cookie"]
    assert "tinhso_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    html = assert_html(b.get("/ho-so-cua-toi"), 200)
    assert "Nguyễn Văn An" in html
    # an open redirect is refused
    b2 = Browser(server)
    b2.get("/dang-nhap")
    r = b2.post("/dang-nhap", {"username": "030095001234", "password": DEMO_PASSWORD, "next": "//evil.example"})
    assert r.status_code == 303 and r.headers["Location"] == "/ho-so-cua-toi"
    # logging out needs the session's CSRF token
    r = b.post("/dang-xuat", {}, tokens=False)
    assert_html(r, 403)
    b.get("/ho-so-cua-toi")
    r = b.post("/dang-xuat")
    assert r.status_code == 303
    r = b.get("/ho-so-cua-toi", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].startswith("/dang-nhap?next=")


def test_forms_need_their_token(server):
    b = Browser(server)
    b.get("/dang-nhap")
    # an anonymous form posted without the form token (another site's form): refused
    r = b.post("/dang-nhap", {"username": "canbo.thd", "password": DEMO_PASSWORD}, tokens=False)
    assert_html(r, 403)
    r = requests.post(server.url("/dang-ky"), data={"id_number": "030095001111"}, timeout=30)
    assert_html(r, 403)
    # a signed-in official's action without the CSRF token: refused, nothing done
    off = Browser(server)
    off.login("canbo.thd")
    cit = citizen(server)
    code = submit(cit, procedure(server, BIRTH)).json()["code"]
    off.get("/can-bo/ho-so/" + code)
    r = off.post("/can-bo/ho-so/%s/xu-ly" % code, {"action": "receive", "form_token": off.tokens()["form_token"]},
                 tokens=False)
    assert_html(r, 403)
    assert cit.get("/api/v1/dossiers/" + code).json()["status"] == 1
    r = off.post("/can-bo/ho-so/%s/xu-ly" % code, {"action": "receive", "csrf_token": "x" * 43})
    assert_html(r, 403)
    assert cit.get("/api/v1/dossiers/" + code).json()["status"] == 1


def test_register_keeps_what_was_typed(server):
    b = Browser(server)
    b.get("/dang-ky")
    r = b.post("/dang-ky", {"id_number": "12345", "full_name": "Phạm Thị Ánh <b>", "phone": "0123",
                            "email": "not-an-email", "password": "Abcdefgh-123", "password_confirm": "Abcdefgh-123"})
    html = assert_html(r, 422)
    assert error_links(html) == ["#id_number", "#full_name", "#phone", "#email"]
    assert 'value="12345"' in html and 'value="Phạm Thị Ánh &lt;b&gt;"' in html and 'value="not-an-email"' in html
    assert "Abcdefgh-123" not in html
    cccd = "0300%08d" % (uuid.uuid4().int % 10**8)
    r = b.post("/dang-ky", {"id_number": cccd[:4] + " " + cccd[4:], "full_name": "Phạm Thị Ánh", "phone": "0912 345 678",
                            "email": "", "password": "Abcdefgh-123", "password_confirm": "Abcdefgh-123"})
    assert r.status_code == 303, r.text[:3000]
    html = assert_html(b.follow(r), 200)
    assert "Phạm Thị Ánh" in html and "Đã tạo tài khoản" in html
    # the same CCCD again: named
    b2 = Browser(server)
    b2.get("/dang-ky")
    r = b2.post("/dang-ky", {"id_number": cccd, "full_name": "X", "phone": "0912345678", "password": "Abcdefgh-123",
                             "password_confirm": "Abcdefgh-123"})
    html = assert_html(r, 422)
    assert "#id_number" in error_links(html) and "đã có tài khoản" in html


# ---- applying online ----

def start_application(b, code=BIRTH):
    b.get("/thu-tuc/%s/nop" % code)
    r = b.post("/thu-tuc/%s/nop" % code)
    assert r.status_code == 303, r.text[:2000]
    assert re.fullmatch(r"/ho-so-nhap/[A-Za-z0-9_-]{20,}/co-quan", r.headers["Location"])
    b.follow(r)
    return r.headers["Location"].rsplit("/", 1)[0]


BIRTH_ANSWERS = {
    "f.child_full_name": "Nguyễn Minh Khôi", "f.child_birth_date.day": "5", "f.child_birth_date.month": "3",
    "f.child_birth_date.year": "2025", "f.child_gender": "Nam", "f.child_birth_place": "Bệnh viện tỉnh",
    "f.child_ethnicity": "Kinh", "f.child_nationality": "Việt Nam", "f.mother_full_name": "Lê Thị Hoa",
    "f.mother_id_number": "030190004321", "f.applicant_phone": "0912345678",
    "f.residence_address.commune": COMMUNE, "f.residence_address.detail": "Số 12 phố Quang Trung",
}


def test_apply_step_by_step(server):
    b = Browser(server)
    b.login("030095001234")
    base = start_application(b)
    # the agency: required, and one of those offered
    html = assert_html(b.post(base + "/co-quan", {"agency": ""}), 422)
    assert error_links(html) == ["#agency"]
    html = assert_html(b.post(base + "/co-quan", {"agency": "000.00.04.H23"}), 422)
    assert "không tiếp nhận" in html
    r = b.post(base + "/co-quan", {"agency": COMMUNE})
    assert r.status_code == 303 and r.headers["Location"] == base + "/cau-hoi/1"
    html = b.follow(r).text
    # page 1: wrong answers are named beside their fields and kept as typed
    bad = {"f.child_full_name": "", "f.child_birth_date.day": "31", "f.child_birth_date.month": "2",
           "f.child_birth_date.year": "2025", "f.child_gender": "Khác", "f.child_birth_place": "x" * 3000,
           "f.child_ethnicity": "Kinh", "f.child_nationality": "Việt Nam"}
    html = assert_html(b.post(base + "/cau-hoi/1", bad), 422)
    links = error_links(html)
    assert links == ["#f-child_full_name", "#f-child_birth_date-day", "#f-child_gender-0", "#f-child_birth_place"], links
    assert 'value="31"' in html and "x" * 3000 in html
    assert 'id="f-child_full_name-error"' in html and 'aria-invalid="true"' in html
    # the draft kept them: the same page shows them again after leaving it
    html = b.get(base + "/cau-hoi/1").text
    assert 'value="31"' in html
    # nothing typed on later pages is an error on this one
    r = b.post(base + "/cau-hoi/1", {k: v for k, v in BIRTH_ANSWERS.items() if k.startswith("f.child")})
    assert r.status_code == 303 and r.headers["Location"] == base + "/cau-hoi/2"
    b.follow(r)
    r = b.post(base + "/cau-hoi/2", {"f.mother_full_name": "Lê Thị Hoa", "f.mother_id_number": "0301-9000-4321",
                                     "f.applicant_phone": "0912345678"})
    html = assert_html(r, 422)
    assert error_links(html) == ["#f-mother_id_number"] and "12 chữ số" in html
    r = b.post(base + "/cau-hoi/2", {k: v for k, v in BIRTH_ANSWERS.items() if k.startswith(("f.mother", "f.applicant"))})
    assert r.status_code == 303
    b.follow(r)
    r = b.post(base + "/cau-hoi/3", {"f.residence_address.commune": "000.00.31.H23", "f.residence_address.detail": "Số 12"})
    html = assert_html(r, 422)
    assert error_links(html) == ["#f-residence_address-commune"]
    r = b.post(base + "/cau-hoi/3", {k: v for k, v in BIRTH_ANSWERS.items() if k.startswith("f.residence")})
    assert r.status_code == 303 and r.headers["Location"] == base + "/giay-to"
    b.follow(r)
    # documents: type checked by content, required ones asked for
    r = b.post(base + "/giay-to", files={"doc0": ("to-khai.pdf", b"not really a pdf", "application/pdf")})
    html = assert_html(r, 422)
    assert "#doc0" in error_links(html) and "to-khai.pdf" in html
    r = b.post(base + "/giay-to", files={"doc0": ("to-khai.pdf", PDF, "application/pdf"), "doc1": ("", b"", "application/octet-stream")})
    html = assert_html(r, 422)
    assert error_links(html) == ["#doc1"] and "to-khai.pdf" in html
    r = b.post(base + "/giay-to", files={"doc1": ("chứng sinh.png", PNG, "image/png")})
    assert r.status_code == 303 and r.headers["Location"] == base + "/kiem-tra"
    html = assert_html(b.follow(r), 200)
    assert "Nguyễn Minh Khôi" in html and "05/03/2025" in html and "chứng sinh.png" in html
    assert "phường Trần Hưng Đạo" in html
    assert html.count(base + "/cau-hoi/") >= 12  # a change link per answer
    # a change from the check page comes back to it
    b.get(base + "/cau-hoi/1?then=check")
    r = b.post(base + "/cau-hoi/1", dict({k: v for k, v in BIRTH_ANSWERS.items() if k.startswith("f.child")},
                                        then="check"))
    assert r.status_code == 303 and r.headers["Location"] == base + "/kiem-tra"
    b.get(base + "/kiem-tra")
    r = b.post(base + "/kiem-tra")
    assert r.status_code == 303, r.text[:3000]
    m = re.fullmatch(r"/ho-so/(000\.08\.31\.H23-\d{6}-\d{4})/da-nop", r.headers["Location"])
    assert m, r.headers["Location"]
    code = m.group(1)
    html = assert_html(b.follow(r), 200)
    assert code in html and "Đã nộp hồ sơ" in html
    # the API sees the same dossier, with the files and the typed form
    cit = citizen(server)
    d = cit.get("/api/v1/dossiers/" + code).json()
    assert d["status"] == 1 and d["form"]["child_birth_date"] == "2025-03-05"
    assert d["form"]["residence_address"] == {"commune": COMMUNE, "detail": "Số 12 phố Quang Trung"}
    files = cit.get("/api/v1/dossiers/%s/files" % code).json()["items"]
    assert sorted(f["filename"] for f in files) == ["chứng sinh.png", "to-khai.pdf"]
    # the draft is gone; submitting it again finds nothing
    assert_html(b.get(base + "/kiem-tra"), 404)


def test_drafts_belong_to_their_citizen(server, make_server):
    b = Browser(server)
    b.login("030095001234")
    base = start_application(b)
    other = Browser(server)
    cccd = "0300%08d" % (uuid.uuid4().int % 10**8)
    other.get("/dang-ky")
    r = other.post("/dang-ky", {"id_number": cccd, "full_name": "Người Khác", "phone": "0987654321",
                                "password": "Abcdefgh-123", "password_confirm": "Abcdefgh-123"})
    assert r.status_code == 303
    other.follow(r)
    assert_html(other.get(base + "/co-quan"), 404)
    r = other.post(base + "/xoa")
    assert_html(r, 404)
    # an official cannot open a citizen's application form
    off = Browser(server)
    off.login("canbo.thd")
    assert_html(off.get(base + "/co-quan"), 403)
    # the owner deletes it
    b.get("/ho-so-cua-toi")
    r = b.post(base + "/xoa")
    assert r.status_code == 303
    assert_html(b.get(base + "/co-quan"), 404)


# ---- the back office ----

def test_office_actions_and_what_is_offered(server):
    cit = citizen(server)
    code = submit(cit, procedure(server, BIRTH)).json()["code"]
    off = Browser(server)
    off.login("canbo.thd")
    html = assert_html(off.get("/can-bo/ho-so/" + code), 200)
    offered = set(re.findall(r'id="do-([a-z_]+)"', html))
    assert offered == {"receive", "refuse", "request_supplement"}, offered
    # a refusal needs its reason: named, the note kept
    r = off.post("/can-bo/ho-so/%s/xu-ly" % code, {"action": "refuse", "reason": ""})
    html = assert_html(r, 422)
    assert error_links(html) == ["#refuse-reason"]
    # an action the page does not know
    assert_html(off.post("/can-bo/ho-so/%s/xu-ly" % code, {"action": "explode"}), 400)
    assert_html(off.post("/can-bo/ho-so/%s/xu-ly" % code, {"action": "supplement"}), 400)
    # one the workflow does not allow now: refused by the domain, shown as a problem on the page
    r = off.post("/can-bo/ho-so/%s/xu-ly" % code, {"action": "approve"})
    html = assert_html(r, 409)
    assert "error-summary" in html
    r = off.post("/can-bo/ho-so/%s/xu-ly" % code, {"action": "receive", "note": "Đủ\r\ngiấy tờ"})
    assert r.status_code == 303 and r.headers["Location"].endswith("?ok=receive")
    html = assert_html(off.follow(r), 200)
    assert "Đã tiếp nhận hồ sơ." in html
    offered = set(re.findall(r'id="do-([a-z_]+)"', html))
    assert {"forward", "request_supplement", "stop", "extend"} <= offered and "approve" not in offered
    assert cit.get("/api/v1/dossiers/" + code).json()["status"] == 2
    hist = cit.get("/api/v1/dossiers/%s/history" % code).json()["items"]
    assert hist[-1]["note"] == "Đủ giấy tờ"
    # an extension with a date that is not one, or too early
    r = off.post("/can-bo/ho-so/%s/xu-ly" % code, {"action": "extend", "reason": "Chờ xác minh", "new_due.day": "40",
                                                    "new_due.month": "1", "new_due.year": "2030"})
    html = assert_html(r, 422)
    assert error_links(html) == ["#extend-date-day"] and 'value="40"' in html
    r = off.post("/can-bo/ho-so/%s/xu-ly" % code, {"action": "extend", "reason": "Chờ xác minh", "new_due.day": "1",
                                                    "new_due.month": "1", "new_due.year": "2000"})
    html = assert_html(r, 422)
    assert error_links(html) == ["#extend-date-day"]
    # the worklist counts it
    html = off.get("/can-bo?tab=received").text
    assert code in html and re.search(r'id="count-received">\d+<', html)
    # the leader sees it under approval once forwarded
    r = off.post("/can-bo/ho-so/%s/xu-ly" % code, {"action": "forward"})
    assert r.status_code == 303
    lead = Browser(server)
    lead.login("lanhdao.thd")
    html = lead.get("/can-bo?tab=approve").text
    assert code in html
    html = lead.get("/can-bo/ho-so/" + code).text
    assert {"approve", "reject"} <= set(re.findall(r'id="do-([a-z_]+)"', html))


def test_office_scope_and_roles(server):
    cit = citizen(server)
    code = submit(cit, procedure(server, BIRTH)).json()["code"]
    # an official of another commune does not see it
    other = Browser(server)
    other.login("canbo.tphd")  # the city: its scope holds the ward
    assert_html(other.get("/can-bo/ho-so/" + code), 200)
    c = Browser(server)
    c.login("030095001234")
    assert_html(c.get("/can-bo"), 403)
    assert_html(c.get("/quan-tri"), 403)
    # a citizen opening the office page of their own dossier is sent to theirs
    r = c.get("/ho-so/" + code)
    assert_html(r, 200)
    off = Browser(server)
    off.login("canbo.thd")
    r = off.get("/ho-so/" + code, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/can-bo/ho-so/" + code
    # another citizen gets a 404 for it, as for a code that does not exist
    b = Browser(server)
    cccd = "0300%08d" % (uuid.uuid4().int % 10**8)
    b.get("/dang-ky")
    b.follow(b.post("/dang-ky", {"id_number": cccd, "full_name": "Ai Đó", "phone": "0987654322",
                                 "password": "Abcdefgh-123", "password_confirm": "Abcdefgh-123"}))
    assert_html(b.get("/ho-so/" + code), 404)
    assert_html(b.get("/ho-so/%s/bien-nhan.pdf" % code), 404)


def test_desk_intake_and_receipt(server):
    off = Browser(server)
    off.login("canbo.thd")
    off.get("/can-bo/tiep-nhan/" + BIRTH)
    answers = dict(BIRTH_ANSWERS)
    r = off.post("/can-bo/tiep-nhan/" + BIRTH, dict(answers, **{"applicant.name": "", "applicant.id_number": "12"}))
    html = assert_html(r, 422)
    assert error_links(html)[:2] == ["#applicant-name", "#applicant-id_number"]
    assert 'value="Nguyễn Minh Khôi"' in html
    r = off.post("/can-bo/tiep-nhan/" + BIRTH, dict(answers, **{"applicant.name": "Trần Văn Bảo",
                                                                 "applicant.id_number": "030090009999",
                                                                 "channel": "postal"}),
                 files={"doc0": ("to-khai.pdf", PDF, "application/pdf")})
    assert r.status_code == 303, r.text[:3000]
    loc = r.headers["Location"]
    assert re.fullmatch(r"/can-bo/ho-so/000\.08\.31\.H23-\d{6}-\d{4}\?ok=intake", loc)
    html = assert_html(off.follow(r), 200)
    code = loc.split("/")[-1].split("?")[0]
    assert "Qua dịch vụ bưu chính" in html
    pdf = off.get("/ho-so/%s/bien-nhan.pdf" % code)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["Content-Type"] == "application/pdf"
    ctl = off.get("/ho-so/%s/mau/control.pdf" % code)
    assert ctl.status_code == 200 and ctl.content.startswith(b"%PDF")
    assert_html(off.get("/ho-so/%s/mau/nothing.pdf" % code), 404)


def test_statistics(server):
    off = Browser(server)
    off.login("canbo.tphd")
    html = assert_html(off.get("/can-bo/thong-ke"), 200)
    assert "Ủy ban nhân dân thành phố Hải Dương" in html and "Tỷ lệ đúng hạn" in html
    html = assert_html(off.get("/can-bo/thong-ke?agency=" + COMMUNE), 200)
    assert "phường Trần Hưng Đạo" in html
    # an agency outside the scope is ignored
    html = assert_html(off.get("/can-bo/thong-ke?agency=000.00.04.H23"), 200)
    assert "thành phố Hải Dương" in html


# ---- the receipt's QR link ----

def test_receipt_qr_link_is_verified(server):
    cit = citizen(server)
    code = submit(cit, procedure(server, BIRTH)).json()["code"]
    act(official(server, "canbo.thd"), code, "receive")
    url = cit.get("/api/v1/dossiers/" + code).json()["receipt_url"]
    path = url[url.index("/tra-cuu"):]
    html = assert_html(server.get(path), 200)
    assert 'data-valid="true"' in html and code in html
    assert 'value="%s"' % code in html  # the lookup form comes prefilled
    tampered = re.sub(r"([?&]d=)(\d+)", lambda m: m.group(1) + str(int(m.group(2)) + 86400), path)
    html = assert_html(server.get(tampered), 200)
    assert 'data-valid="false"' in html
    # the lookup itself
    html = assert_html(server.get("/tra-cuu", params={"code": code, "id_last4": "1234"}), 200)
    assert 'id="lookup-status"' in html and "Nguyễn V. A." in html and "030095001234" not in html
    html = assert_html(server.get("/tra-cuu", params={"code": code, "id_last4": "9999"}), 404)
    assert error_links(html) == ["#code"]


# ---- garbage ----

POSTS = ["/dang-nhap", "/dang-ky", "/dang-xuat", "/thu-tuc/%s/nop" % BIRTH, "/can-bo/ho-so/X/xu-ly",
         "/quan-tri/co-quan/moi", "/quan-tri/ngay-nghi", "/ho-so/X/bo-sung", "/ho-so/X/danh-gia", "/ho-so/X/thanh-toan",
         "/ho-so-nhap/abcdefghijklmnopqrstuvwxyz/kiem-tra", "/can-bo/tiep-nhan/" + BIRTH]


@pytest.mark.parametrize("who", [None, "030095001234", "canbo.thd"])
def test_garbage_posts_never_fail(server, who):
    b = Browser(server)
    if who:
        b.login(who)
    else:
        b.get("/")
    tok = b.tokens(b.get("/tra-cuu").text)
    bodies = [
        ("application/x-www-form-urlencoded", b""),
        ("application/x-www-form-urlencoded", b"%%%%&&&==="),
        ("application/x-www-form-urlencoded", ("username=%ff%fe%00&password=\x00&" + "&".join("%s=%s" % kv for kv in tok.items())).encode()),
        ("application/x-www-form-urlencoded", ("action=receive&note=" + "%C3%A1" * 200000 + "&" + "&".join("%s=%s" % kv for kv in tok.items())).encode()),
        ("multipart/form-data; boundary=XYZ", b"--XYZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\xff\xfe\r\n--XYZ--\r\n"),
        ("multipart/form-data; boundary=XYZ", b"garbage without boundaries"),
        ("text/plain", b"hello"),
        ("application/json", b'{"username": "x"}'),
    ]
    for path in POSTS:
        for ctype, body in bodies:
            r = b.http.post(server.url(path), data=body, headers={"Content-Type": ctype}, allow_redirects=False,
                            timeout=30)
            assert r.status_code < 500, "%s %s -> %d %s" % (path, ctype, r.status_code, r.text[:500])
            if r.status_code != 303:
                assert r.headers["Content-Type"] == HTML, (path, ctype, r.headers)


def test_huge_form_field_is_a_page_not_a_crash(server):
    b = Browser(server)
    b.get("/dang-nhap")
    tok = b.tokens()
    r = b.http.post(server.url("/dang-nhap"), data=dict(tok, username="a" * (2 * 1024 * 1024), password="x"),
                    allow_redirects=False, timeout=60)
    assert_html(r, 413)


def test_bad_utf8_in_a_form_is_named(server):
    b = Browser(server)
    b.get("/dang-ky")
    tok = b.tokens()
    body = "&".join("%s=%s" % kv for kv in tok.items()) + "&full_name=%C3%28abc&id_number=030095001234"
    r = b.http.post(server.url("/dang-ky"), data=body.encode(), allow_redirects=False, timeout=30,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    html = assert_html(r, 400)
    assert "#main" in error_links(html) and "\ufffd" in html


def test_catalogs_have_the_same_keys():
    import os
    root = os.path.join(os.path.dirname(__file__), "..", "..", "web", "i18n")

    def keys(d, prefix=""):
        out = set()
        for k, v in d.items():
            if isinstance(v, dict):
                out |= keys(v, prefix + k + ".")
            else:
                out.add(prefix + k)
        return out

    vi = json.load(open(os.path.join(root, "vi", "web.json"), encoding="utf-8"))
    en = json.load(open(os.path.join(root, "en", "web.json"), encoding="utf-8"))
    assert keys(vi) - keys(en) == set() and keys(en) - keys(vi) == set()


# ---- administration ----

@pytest.fixture(scope="module")
def admin_browser(server):
    from conftest import DEMO_ADMIN_TOTP, totp
    import time
    b = Browser(server)
    for _ in range(3):
        b.get("/dang-nhap?totp=1")
        r = b.post("/dang-nhap", {"username": "admin", "password": DEMO_PASSWORD, "totp": totp(DEMO_ADMIN_TOTP)})
        if r.status_code == 303:
            assert r.headers["Location"] == "/quan-tri"
            return b
        time.sleep(31 - time.time() % 30)  # this step's code was used: wait for the next
    raise AssertionError(r.text[:2000])


def test_admin_agencies(admin_browser):
    b = admin_browser
    html = assert_html(b.get("/quan-tri/co-quan?q=Tr%E1%BA%A7n+H%C6%B0ng+%C4%90%E1%BA%A1o"), 200)
    assert COMMUNE in html
    b.get("/quan-tri/co-quan/moi")
    r = b.post("/quan-tri/co-quan/moi", {"code": "abc", "name": "", "level": "commune", "kind": "people_committee"})
    html = assert_html(r, 422)
    assert error_links(html)[:2] == ["#code", "#name"] and 'value="abc"' in html
    r = b.post("/quan-tri/co-quan/moi", {"code": "000.99.31.H23", "name": "Phường Thử Nghiệm", "level": "commune",
                                         "kind": "people_committee", "parent": "000.00.31.H23"})
    assert r.status_code == 303, r.text[:3000]
    b.get("/quan-tri/co-quan/000.99.31.H23")
    r = b.post("/quan-tri/co-quan/000.99.31.H23", {"name": "Phường Thử Nghiệm Mới", "level": "commune",
                                                   "kind": "people_committee", "parent": "000.00.31.H23"})
    assert r.status_code == 303
    assert "Phường Thử Nghiệm Mới" in b.follow(r).text
    r = b.post("/quan-tri/co-quan/moi", {"code": "000.99.31.H23", "name": "X", "level": "commune",
                                         "kind": "people_committee", "parent": "000.00.31.H23"})
    assert "#code" in error_links(assert_html(r, 422))


def test_admin_users(admin_browser, server):
    b = admin_browser
    b.get("/quan-tri/nguoi-dung/moi")
    r = b.post("/quan-tri/nguoi-dung/moi", {"username": "Bad Name", "role": "official", "full_name": "Cán Bộ Thử",
                                            "password": "Abcdefgh-123"})
    html = assert_html(r, 422)
    assert error_links(html) == ["#username", "#agency_code"] and 'value="Cán Bộ Thử"' in html
    r = b.post("/quan-tri/nguoi-dung/moi", {"username": "canbo.thu", "role": "official", "agency_code": COMMUNE,
                                            "full_name": "Cán Bộ Thử", "title": "Công chức", "password": "Abcdefgh-123"})
    assert r.status_code == 303, r.text[:3000]
    html = assert_html(b.follow(r), 200)
    assert "canbo.thu" in html
    b.get("/quan-tri/nguoi-dung?role=official")
    r = b.post("/quan-tri/nguoi-dung/canbo.thu/trang-thai", {"to": "disable"})
    assert r.status_code == 303
    lr = server.post("/api/v1/auth/login", json={"username": "canbo.thu", "password": "Abcdefgh-123"})
    assert lr.status_code == 401
    b.get("/quan-tri/nguoi-dung")
    r = b.post("/quan-tri/nguoi-dung/canbo.thu/trang-thai", {"to": "enable"})
    assert r.status_code == 303
    lr = server.post("/api/v1/auth/login", json={"username": "canbo.thu", "password": "Abcdefgh-123"})
    assert lr.status_code == 200
    b.get("/quan-tri/nguoi-dung")
    assert_html(b.post("/quan-tri/nguoi-dung/canbo.thu/trang-thai", {"to": "explode"}), 400)


def test_admin_procedures(admin_browser, server):
    b = admin_browser
    html = assert_html(b.get("/quan-tri/thu-tuc/" + BIRTH), 200)
    doc = re.search(r'<textarea[^>]*id="doc"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    import html as htmlmod
    doc = json.loads(htmlmod.unescape(doc))
    assert doc["code"] == BIRTH and doc["workflow"]
    r = b.post("/quan-tri/thu-tuc/" + BIRTH, {"doc": '{"code": "1.001193", '})
    html = assert_html(r, 422)
    assert error_links(html) == ["#doc"] and "JSON" in html and '{&quot;code&quot;: &quot;1.001193&quot;,' in html
    bad = dict(doc, processing_days=0)
    bad["workflow"] = [dict(s, share=1) for s in doc["workflow"]]
    r = b.post("/quan-tri/thu-tuc/" + BIRTH, {"doc": json.dumps(bad, ensure_ascii=False)})
    html = assert_html(r, 422)
    assert "processing_days" in html and "workflow" in html
    good = dict(doc, processing_days=2)
    r = b.post("/quan-tri/thu-tuc/" + BIRTH, {"doc": json.dumps(good, ensure_ascii=False)})
    assert r.status_code == 303, r.text[:3000]
    assert server.get("/api/v1/procedures/" + BIRTH).json()["processing_days"] == 2
    good["processing_days"] = doc["processing_days"]
    b.get("/quan-tri/thu-tuc/" + BIRTH)
    assert b.post("/quan-tri/thu-tuc/" + BIRTH, {"doc": json.dumps(good, ensure_ascii=False)}).status_code == 303


def test_admin_holidays(admin_browser, server):
    b = admin_browser
    html = assert_html(b.get("/quan-tri/ngay-nghi?year=2026"), 200)
    r = b.post("/quan-tri/ngay-nghi", {"date.day": "31", "date.month": "2", "date.year": "2031", "kind": "holiday",
                                       "name_vi": "", "name_en": "Test"})
    html = assert_html(r, 422)
    assert error_links(html) == ["#date-day", "#name_vi"] and 'value="31"' in html and 'value="Test"' in html
    r = b.post("/quan-tri/ngay-nghi", {"date.day": "15", "date.month": "7", "date.year": "2031", "kind": "holiday",
                                       "name_vi": "Ngày nghỉ thử", "name_en": "Test holiday", "announced": "1"})
    assert r.status_code == 303, r.text[:3000]
    html = assert_html(b.follow(r), 200)
    assert "15/07/2031" in html and "Ngày nghỉ thử" in html
    cal = server.get("/api/v1/calendar", params={"year": 2031}).json()
    assert any(d["date"] == "2031-07-15" for d in cal["days"])
    b.get("/quan-tri/ngay-nghi?year=2031")
    r = b.post("/quan-tri/ngay-nghi/xoa", {"date": "2031-07-15"})
    assert r.status_code == 303
    cal = server.get("/api/v1/calendar", params={"year": 2031}).json()
    assert not any(d["date"] == "2031-07-15" for d in cal["days"])
    b.get("/quan-tri/ngay-nghi")
    assert_html(b.post("/quan-tri/ngay-nghi/xoa", {"date": "not-a-date"}), 400)
