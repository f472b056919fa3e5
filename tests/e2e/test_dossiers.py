"""The one-stop core end to end: submission to returned result, desk intake,
supplement with the paused clock, inter-level forwarding, refusal, withdrawal,
concurrency, scope, lookup, idempotency and codes."""
import concurrent.futures
import json
import re
import subprocess
import time

import requests

from conftest import assert_error
from onestop import (BIRTH, COMMUNE, DISTRICT, INTER_LEVEL, OTHER_COMMUNE, PDF, PNG, act, citizen, official, procedure,
                     required_files, sha256, submit, valid_form)


def test_full_online_procedure(server):
    proc = procedure(server, BIRTH)
    cit = citizen(server)
    r = submit(cit, proc)
    assert r.status_code == 201, r.text
    d = r.json()
    code = d["code"]
    assert re.fullmatch(r"000\.08\.31\.H23-\d{6}-\d{4}", code), code
    assert d["status"] == 1 and d["status_name"] == "submitted" and d["channel"] == "online"
    assert d["applicant"]["name"] == "Nguyễn Văn An" and d["applicant"]["id_number"] == "030095001234"
    assert d["due_at"] is None

    files = cit.get("/api/v1/dossiers/%s/files" % code).json()["items"]
    assert len(files) == 2 and all(f["kind"] == "document" for f in files)
    body = cit.get(files[0]["url"])
    assert body.status_code == 200 and body.content == PDF and files[0]["sha256"] == sha256(PDF)
    assert body.headers["Content-Type"] == "application/pdf"

    off = official(server, "canbo.thd")
    lead = official(server, "lanhdao.thd")
    r = act(off, code, "receive", note="Hồ sơ đầy đủ")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["status"] == 2 and d["received_at"] and d["due_at"] and d["step"] == 1
    due = d["due_at"]
    r = act(off, code, "forward", note="Trình lãnh đạo ký")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == 4 and r.json()["step"] == 2
    # an official cannot do the leader's step
    assert_error(act(off, code, "approve"), 409, "invalid_transition")
    r = act(lead, code, "approve", note="Đồng ý")
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "approved" and r.json()["step"] == 3
    r = act(off, code, "issue_result", files=[("result", ("giay-khai-sinh.pdf", PDF, "application/pdf"))])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == 9
    r = act(off, code, "return_result")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["status"] == 10 and d["returned_at"] and d["due_at"] == due

    hist = cit.get("/api/v1/dossiers/%s/history" % code).json()["items"]
    assert [h["action"] for h in hist] == ["submit", "receive", "forward", "approve", "issue_result", "return_result"]
    rec = hist[1]
    assert rec["actor"]["name"] == "Đỗ Thị Hằng" and rec["actor"]["title"]
    assert rec["department"] == COMMUNE and rec["status"] == 2 and rec["status_from"] == 1
    assert rec["note"] == "Hồ sơ đầy đủ" and rec["step_start"] and rec["step_deadline"]
    assert all(h["at"] for h in hist)
    files = cit.get("/api/v1/dossiers/%s/files" % code).json()["items"]
    assert [f["kind"] for f in files].count("result") == 1

    pdf = cit.get("/api/v1/dossiers/%s/receipt.pdf" % code)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and pdf.headers["Content-Type"] == "application/pdf"
    for form in ["control"]:
        r = off.get("/api/v1/dossiers/%s/forms/%s.pdf" % (code, form))
        assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert_error(off.get("/api/v1/dossiers/%s/forms/refusal.pdf" % code), 409, "invalid_transition")
    # every step is in the audit trail
    admin = server.admin()
    audit = admin.get("/api/v1/audit", params={"object": "dossier:" + code}).json()
    assert [a["action"] for a in reversed(audit["items"])] == [
        "dossier.submit", "dossier.receive", "dossier.forward", "dossier.approve", "dossier.issue_result",
        "dossier.return_result"]


def test_receipt_text_and_signed_qr(server, tmp_path):
    proc = procedure(server, BIRTH)
    cit = citizen(server)
    code = submit(cit, proc).json()["code"]
    off = official(server, "canbo.thd")
    act(off, code, "receive")
    pdf = cit.get("/api/v1/dossiers/%s/receipt.pdf" % code).content
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
    assert code in text.replace("\n", "") or code.split("-")[0] in text
    assert "Nguyễn Văn An" in text
    # the signed link of the QR code verifies with the published key, and a changed date does not
    url = cit.get("/api/v1/dossiers/" + code).json()["receipt_url"]
    assert "/tra-cuu?" in url
    params = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))
    r = server.get("/api/v1/receipts/verify", params=params)
    assert r.status_code == 200 and r.json()["valid"] is True, r.text
    params["d"] = str(int(params["d"]) + 86400)
    assert server.get("/api/v1/receipts/verify", params=params).json()["valid"] is False
    assert_error(server.get("/api/v1/receipts/verify", params={"code": code}), 422, "invalid", "sig")


def test_desk_intake(server):
    proc = procedure(server, BIRTH)
    off = official(server, "canbo.thd")
    body = {"procedure_code": BIRTH, "agency_code": COMMUNE, "channel": "direct", "form": valid_form(proc),
            "applicant": {"name": "Trần Văn Bảo", "id_number": "030090009999", "phone": "0988777666",
                          "address": "Số 2 phố Quang Trung"}}
    r = off.post("/api/v1/dossiers", json=body)
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["status"] == 2 and d["channel"] == "direct" and d["received_at"] and d["due_at"]
    assert d["applicant"]["name"] == "Trần Văn Bảo"
    pdf = off.get("/api/v1/dossiers/%s/receipt.pdf" % d["code"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # a public lookup with the last 4 digits of the identity number works
    r = server.get("/api/v1/lookup", params={"code": d["code"], "id_last4": "9999"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == 2 and r.json()["applicant"] == "Trần V. B."
    assert "id_number" not in r.text and "0988777666" not in r.text
    # an official cannot record an intake for another agency
    body["agency_code"] = OTHER_COMMUNE
    assert_error(off.post("/api/v1/dossiers", json=body), 403, "forbidden")
    # missing applicant data is named
    body["agency_code"] = COMMUNE
    body["applicant"] = {}
    r = off.post("/api/v1/dossiers", json=body)
    assert_error(r, 422, "invalid", "applicant.name")


def test_supplement_pauses_the_clock(server):
    proc = procedure(server, BIRTH)
    cit = citizen(server)
    code = submit(cit, proc).json()["code"]
    off = official(server, "canbo.thd")
    d = act(off, code, "receive").json()
    due = d["due_at"]
    assert_error(act(off, code, "request_supplement"), 422, "invalid", "reason")
    r = act(off, code, "request_supplement", reason="Bổ sung bản sao giấy chứng sinh rõ nét")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["status"] == 5 and d["paused_at"] and d["deadline_state"] == "paused"
    # the applicant's supplement resumes it; officials cannot supplement for them
    assert_error(act(off, code, "supplement"), 409, "invalid_transition")
    pdf = cit.get("/api/v1/dossiers/%s/forms/supplement.pdf" % code)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    time.sleep(1.2)
    r = act(cit, code, "supplement", note="Đã bổ sung", files=[("doc1", ("chung-sinh.png", PNG, "image/png"))])
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["status"] == 2 and d["paused_at"] is None
    # the deadline moved by the office time spent waiting (zero outside office hours), never earlier
    assert d["due_at"] >= due
    hist = cit.get("/api/v1/dossiers/%s/history" % code).json()["items"]
    assert [h["action"] for h in hist][-2:] == ["request_supplement", "supplement"]
    assert hist[-2]["note"] == "Bổ sung bản sao giấy chứng sinh rõ nét"
    files = cit.get("/api/v1/dossiers/%s/files" % code).json()["items"]
    assert any(f["kind"] == "supplement" and f["content_type"] == "image/png" for f in files)


def test_inter_level_forward_keeps_deadline(server):
    proc = procedure(server, INTER_LEVEL)
    cit = citizen(server)
    r = submit(cit, proc)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    off = official(server, "canbo.thd")
    d = act(off, code, "receive").json()
    due = d["due_at"]
    d = act(off, code, "forward", note="Chuyển UBND thành phố").json()
    assert d["current_agency"] == DISTRICT and d["due_at"] == due
    # the commune official can still see it but no longer act on it
    assert off.get("/api/v1/dossiers/" + code).status_code == 200
    assert_error(act(off, code, "forward"), 409, "invalid_transition")
    dist = official(server, "canbo.tphd")
    assert dist.get("/api/v1/dossiers/" + code).status_code == 200
    d = act(dist, code, "forward").json()
    assert d["step"] == 3 and d["current_agency"] == DISTRICT
    lead = official(server, "lanhdao.tphd")
    d = act(lead, code, "approve").json()
    assert d["step"] == 4 and d["current_agency"] == COMMUNE and d["due_at"] == due
    d = act(off, code, "issue_result").json()
    assert d["status"] == 9
    assert act(off, code, "return_result").json()["status"] == 10
    hist = cit.get("/api/v1/dossiers/%s/history" % code).json()["items"]
    assert {h["department"] for h in hist if h["department"]} == {COMMUNE, DISTRICT}


def test_refusal(server):
    proc = procedure(server, BIRTH)
    cit = citizen(server)
    code = submit(cit, proc).json()["code"]
    off = official(server, "canbo.thd")
    assert_error(act(off, code, "refuse"), 422, "invalid", "reason")
    d = act(off, code, "refuse", reason="Không thuộc thẩm quyền giải quyết").json()
    assert d["status"] == 3
    for action in ["receive", "forward", "approve", "return_result", "supplement"]:
        assert act(off, code, action).status_code in (409, 422)
    pdf = cit.get("/api/v1/dossiers/%s/forms/refusal.pdf" % code)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert_error(cit.get("/api/v1/dossiers/%s/receipt.pdf" % code), 409, "invalid_transition")


def test_withdrawal(server):
    proc = procedure(server, BIRTH)
    cit = citizen(server)
    code = submit(cit, proc).json()["code"]
    off = official(server, "canbo.thd")
    act(off, code, "receive")
    assert_error(act(off, code, "withdraw"), 409, "invalid_transition")
    d = act(cit, code, "withdraw", reason="Nộp nhầm thủ tục").json()
    assert d["status"] == 7
    assert_error(act(off, code, "forward"), 409, "invalid_transition")
    d = act(off, code, "stop").json()
    assert d["status"] == 8
    assert_error(act(cit, code, "withdraw"), 409, "invalid_transition")


def test_extend_with_apology(server):
    proc = procedure(server, BIRTH)
    cit = citizen(server)
    code = submit(cit, proc).json()["code"]
    off = official(server, "canbo.thd")
    d = act(off, code, "receive").json()
    assert_error(act(off, code, "extend", reason="x", new_due_at="2000-01-01"), 422, "invalid", "new_due_at")
    import datetime
    later = (datetime.date.today() + datetime.timedelta(days=40)).isoformat()
    r = act(off, code, "extend", reason="Chờ xác minh thông tin", new_due_at=later)
    assert r.status_code == 200, r.text
    assert r.json()["due_at"].startswith(later + "T17:00:00")
    far = (datetime.date.today() + datetime.timedelta(days=400)).isoformat()
    assert_error(act(off, code, "extend", reason="x", new_due_at=far), 422, "invalid", "new_due_at")
    pdf = cit.get("/api/v1/dossiers/%s/forms/apology.pdf" % code)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_two_officials_at_once(server):
    proc = procedure(server, BIRTH)
    cit = citizen(server)
    code = submit(cit, proc).json()["code"]
    a = official(server, "canbo.thd")
    b = official(server, "canbo.thd")
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        results = list(ex.map(lambda c: act(c, code, "receive"), [a, b]))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409], [r.text for r in results]
    hist = a.get("/api/v1/dossiers/%s/history" % code).json()["items"]
    assert [h["action"] for h in hist] == ["submit", "receive"]


def test_other_agency_gets_404_everywhere(server, make_server):
    proc = procedure(server, BIRTH)
    cit = citizen(server)
    code = submit(cit, proc).json()["code"]
    server.add_user("canbo.chilinh", "official", agency=OTHER_COMMUNE)
    other = server.login("canbo.chilinh")
    files = cit.get("/api/v1/dossiers/%s/files" % code).json()["items"]
    for path in ["/api/v1/dossiers/" + code, "/api/v1/dossiers/%s/history" % code,
                 "/api/v1/dossiers/%s/files" % code, files[0]["url"], "/api/v1/dossiers/%s/receipt.pdf" % code,
                 "/api/v1/dossiers/%s/forms/control.pdf" % code]:
        assert_error(other.get(path), 404, "not_found")
    assert_error(act(other, code, "receive"), 404, "not_found")
    assert code not in other.get("/api/v1/dossiers").text
    # another citizen too
    server.post("/api/v1/citizens", json={"id_number": "030199007777", "full_name": "Lê Thị Cúc",
                                          "phone": "0977123456", "password": "Test-Passw0rd!"})
    other_cit = server.login("030199007777")
    assert_error(other_cit.get("/api/v1/dossiers/" + code), 404, "not_found")
    # the district above the commune sees it (scope is the agency and its sub-units)
    assert official(server, "canbo.tphd").get("/api/v1/dossiers/" + code).status_code == 200


def test_lookup_second_factor(server):
    proc = procedure(server, BIRTH)
    cit = citizen(server)
    code = submit(cit, proc).json()["code"]
    ok = server.get("/api/v1/lookup", params={"code": code, "id_last4": "1234"})
    assert ok.status_code == 200 and ok.json()["code"] == code
    phone = server.get("/api/v1/lookup", params={"code": code, "id_last4": "5678"})
    assert phone.status_code == 200
    wrong = server.get("/api/v1/lookup", params={"code": code, "id_last4": "0000"})
    missing = server.get("/api/v1/lookup", params={"code": code[:-4] + "9999", "id_last4": "1234"})
    assert_error(wrong, 404, "not_found")
    assert_error(missing, 404, "not_found")
    assert wrong.json()["error"]["message"] == missing.json()["error"]["message"]
    assert_error(server.get("/api/v1/lookup", params={"code": code, "id_last4": "12a4"}), 422, "invalid", "id_last4")


def test_lookup_rate_limited(make_server):
    s = make_server(env={"TINHSO_LOOKUP_PER_MINUTE": "5"})
    codes = [s.get("/api/v1/lookup", params={"code": "X-1", "id_last4": "0000"}).status_code for _ in range(7)]
    assert codes[:5] == [404] * 5 and codes[5:] == [429, 429]


def test_idempotent_submission(server):
    proc = procedure(server, BIRTH)
    cit = citizen(server)
    key = "k-" + str(time.time())
    a = submit(cit, proc, key=key)
    b = submit(cit, proc, key=key)
    assert a.status_code == 201 and b.status_code == 200, (a.text, b.text)
    assert a.json()["code"] == b.json()["code"] and b.headers["Idempotent-Replayed"] == "true"


def test_codes_gap_free_under_concurrency(make_server):
    s = make_server()
    proc = procedure(s, BIRTH)
    cit = s.login("030095001234", "HaiDuong@2021")
    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        results = list(ex.map(lambda i: submit(cit, proc), range(30)))
    assert all(r.status_code == 201 for r in results), [r.text for r in results if r.status_code != 201]
    seqs = sorted(int(r.json()["code"].rsplit("-", 1)[1]) for r in results)
    assert seqs == list(range(1, 31))


def test_submission_validation(server):
    proc = procedure(server, BIRTH)
    cit = citizen(server)
    form = valid_form(proc)
    form["child_birth_date"] = "2024-02-30"
    form["mother_id_number"] = "123"
    form["unknown_field"] = "x"
    r = submit(cit, proc, form=form, files=[])
    body = assert_error(r, 422, "invalid")
    fields = body["error"]["details"]["fields"]
    assert {"form.child_birth_date", "form.mother_id_number", "form.unknown_field", "documents[0]"} <= set(fields)
    # a file that is not what it claims
    r = submit(cit, proc, files=[("doc0", ("x.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")),
                                 ("doc1", ("y.pdf", PDF, "application/pdf"))])
    assert_error(r, 422, "invalid", "files[0]")
    # the wrong level of agency
    assert_error(submit(cit, proc, agency=DISTRICT), 422, "invalid", "agency_code")
    assert_error(submit(cit, proc, agency="000.99.99.H23"), 422, "invalid", "agency_code")
    r = cit.post("/api/v1/dossiers", json={"procedure_code": "9.999999", "agency_code": COMMUNE})
    assert_error(r, 422, "invalid", "procedure_code")
    assert_error(cit.post("/api/v1/dossiers", json={"agency_code": COMMUNE, "x": 1}), 422, "invalid",
                 "procedure_code")
    # an unknown action, and an action on a dossier that does not exist
    code = submit(cit, proc).json()["code"]
    assert_error(act(cit, code, "teleport"), 422, "invalid", "action")
    assert_error(act(cit, code[:-4] + "9998", "withdraw"), 404, "not_found")


def test_kill9_during_submissions_loses_nothing(make_server):
    import os
    import signal
    import threading
    s = make_server()
    proc = procedure(s, BIRTH)
    cit = s.login("030095001234", "HaiDuong@2021")
    acked = []
    outcomes = []

    def one(i):
        try:
            r = submit(cit, proc)
            return r.status_code, (r.json().get("code") if r.status_code == 201 else None)
        except requests.RequestException:
            return None, None

    def burst():
        with concurrent.futures.ThreadPoolExecutor(12) as ex:
            for st, code in ex.map(one, range(300)):
                outcomes.append(st)
                if st == 201:
                    acked.append(code)

    t = threading.Thread(target=burst)
    t.start()
    deadline = time.time() + 30
    while len(acked) < 40 and time.time() < deadline:
        time.sleep(0.01)
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait()
    t.join()
    s.proc = None
    s.log.close()
    assert len(acked) >= 40 and None in outcomes
    s.start()  # sweeps files left without a dossier
    cit = s.login("030095001234", "HaiDuong@2021")
    for code in acked:
        r = cit.get("/api/v1/dossiers/" + code)
        assert r.status_code == 200, "acknowledged dossier %s lost" % code
    # no half dossier: each has its first history step and its two files; no file without its row
    rows = s.sql("SELECT d.code, (SELECT count(*) FROM dossier_steps x WHERE x.dossier_code = d.code), "
                 "(SELECT count(*) FROM dossier_files f WHERE f.dossier_code = d.code) FROM dossiers d")
    for line in rows.strip().splitlines():
        code, steps, files = line.split("|")
        assert int(steps) >= 1 and int(files) == 2, line
    stored = set(s.sql("SELECT stored_name FROM dossier_files").split())
    on_disk = set()
    top = os.path.join(s.data, "files")
    for sub in os.listdir(top):
        for f in os.listdir(os.path.join(top, sub)):
            on_disk.add(sub + "/" + f)
    assert on_disk == stored
    leftovers = [f for f in os.listdir(os.path.join(s.data, "tmp")) if f.startswith("up-")]
    assert not leftovers
