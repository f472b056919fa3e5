"""The national systems end to end, with tinhso-sim's simulations of them:
the population database and the others read for prefill and for a dossier's
e-copies (found, unknown, refused, down, slow, not configured), and every
dossier and processing step pushed to the simulated National Public Service
Portal (DVCQG) in its fields, in order and exactly once, through the outbox:
with the portal failing for a while, across a kill -9 of tinhso, after a
refusal that is given up and then requeued. tinhso reaches tinhso-sim through
TINHSO_SIM_URL."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import BIN, Server, assert_error
from onestop import BIRTH, COMMUNE, PDF, OTHER_COMMUNE, act, citizen, official, procedure, submit, valid_form

SIM_BIN = os.environ.get("TINHSO_SIM_BIN", os.path.join(os.path.dirname(BIN), "tinhso-sim"))
CITIZEN_ID = "030095001234"  # the demo citizen, Nguyễn Văn An, in the simulated population database
DATE14 = re.compile(r"^\d{14}$")


class Sim:
    def __init__(self):
        self.proc = subprocess.Popen([SIM_BIN, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise AssertionError("tinhso-sim did not start: %r" % line)
        self.base = "http://127.0.0.1:%s" % m.group(1)

    def get(self, path, **kw):
        return requests.get(self.base + path, timeout=30, **kw)

    def post(self, path, **kw):
        return requests.post(self.base + path, timeout=30, **kw)

    def syncs(self, code):
        r = self.get("/dvcqg/dongbo", params={"MaHoSo": code})
        assert r.status_code == 200, r.text
        return r.json()["items"]

    def hoso(self, code):
        return self.get("/dvcqg/hoso/" + code)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def sim():
    s = Sim()
    yield s
    s.stop()


@pytest.fixture
def own_sim():
    """A portal of its own, for an installation of its own (dossier codes start again at 0001)."""
    s = Sim()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def server(sim):
    tmp = tempfile.mkdtemp(prefix="tinhso-e2e-nat-")
    s = Server(tmp, env={"TINHSO_SIM_URL": sim.base})
    s.cli("init")
    s.cli("demo")
    s.start()
    yield s
    s.close()
    shutil.rmtree(tmp, ignore_errors=True)


def wait_sync(client, code, pred, timeout=40):
    """Polls the dossier's sync state until pred(state) holds."""
    deadline = time.time() + timeout
    state = None
    while time.time() < deadline:
        r = client.get("/api/v1/dossiers/%s/sync" % code)
        assert r.status_code == 200, r.text
        state = r.json()
        if pred(state):
            return state
        time.sleep(0.2)
    raise AssertionError("sync state never matched: %s" % json.dumps(state, ensure_ascii=False))


def synced(n):
    return lambda s: s["status"] == "ok" and s["pushed"] == n and s["queued"] == n


def full_flow(server):
    """A birth registration from online submission to the returned result: (code, citizen, official)."""
    proc = procedure(server, BIRTH)
    cit = citizen(server)
    r = submit(cit, proc)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    off = official(server, "canbo.thd")
    lead = official(server, "lanhdao.thd")
    assert act(off, code, "receive", note="Hồ sơ đầy đủ").status_code == 200
    assert act(off, code, "forward", note="Trình lãnh đạo ký").status_code == 200
    assert act(lead, code, "approve", note="Đồng ý").status_code == 200
    r = act(off, code, "issue_result", files=[("result", ("giay-khai-sinh.pdf", PDF, "application/pdf"))])
    assert r.status_code == 200, r.text
    assert act(off, code, "return_result").status_code == 200
    return code, cit, off


def portal_time(rfc3339):
    """The portal's yyyyMMddHHmmss of an API time (+07:00)."""
    if not rfc3339:
        return ""
    assert rfc3339.endswith("+07:00"), rfc3339
    return re.sub(r"[-T:]", "", rfc3339[:19])


def assert_once_in_order(sim, code, step_ids):
    """Each step reached the portal once per service, in step order, and nothing else did."""
    items = sim.syncs(code)
    want = []
    for sid in step_ids:
        want += [("DongBoHoSoMC", "%s:%d" % (code, sid)), ("CapNhatTienDoHoSoMC", "%s:%d" % (code, sid))]
    assert [(i["service"], i["MaDongBo"]) for i in items] == want, items
    return items


# ---- the simulated national databases ----

def test_sim_national_databases(sim):
    r = sim.get("/population/citizens/" + CITIZEN_ID)
    assert r.status_code == 200
    p = r.json()
    assert p["full_name"] == "Nguyễn Văn An" and p["birth_date"] == "1995-03-12" and p["gender"] == "Nam"
    assert p["permanent_address"]["commune_code"] == COMMUNE
    assert p["permanent_address"]["full"].endswith("phường Trần Hưng Đạo, thành phố Hải Dương, tỉnh Hải Dương")
    assert_error(sim.get("/population/citizens/030299999999"), 404, "not_found")
    assert_error(sim.get("/population/citizens/0300950012"), 422, "invalid", "id_number")
    assert_error(sim.get("/population/citizens/999095001234"), 422, "invalid", "id_number")
    e = sim.get("/business/enterprises/0801234567").json()
    assert e["name"] == "Công ty TNHH Thương mại và Dịch vụ Hoàng Long" and e["legal_representative"]["id_number"]
    assert sim.get("/business/enterprises/0801234567-001").json()["parent_tax_code"] == "0801234567"
    assert_error(sim.get("/business/enterprises/080123"), 422, "invalid", "tax_code")
    assert_error(sim.get("/business/enterprises/0809999999"), 404, "not_found")
    land = sim.get("/land/parcels/%s/12/345" % COMMUNE).json()
    assert land["area_m2"] == 85.5 and land["holders"][0]["id_number"] == CITIZEN_ID
    assert_error(sim.get("/land/parcels/%s/0/345" % COMMUNE), 422, "invalid", "sheet")
    assert_error(sim.get("/land/parcels/%s/12/346" % COMMUNE), 404, "not_found")
    book = sim.get("/insurance/books/" + CITIZEN_ID).json()
    assert book["number"] == "3012345678" and book["health_card"]["number"] == "DN4303012345678"
    assert sim.get("/insurance/books/3012345678").json()["id_number"] == CITIZEN_ID
    assert sim.get("/judicial/records/" + CITIZEN_ID).json()["status"] == "no_record"
    assert sim.get("/judicial/records/030074025788").json()["status_vi"] == "Có án tích"
    assert sim.get("/judicial/records/030091027900").json()["status"] == "no_record"  # expunged
    # the failure switch
    assert sim.post("/national/fail", json={"system": "judicial", "count": 1}).status_code == 200
    assert_error(sim.get("/judicial/records/" + CITIZEN_ID), 503, "unavailable")
    assert sim.get("/judicial/records/" + CITIZEN_ID).status_code == 200
    assert_error(sim.post("/national/fail", json={"system": "moon", "count": 1}), 422, "invalid", "system")


def test_sim_portal_validates_and_dedupes(sim):
    hoso = {"MaHoSo": "SIM-TEST-1", "MaTTHC": "1.001193", "TenTTHC": "Đăng ký khai sinh", "MaDonVi": COMMUNE,
            "ChuHoSo": "Nguyễn Văn An", "TrangThaiHoSo": 1, "NgayNopHoSo": "20250314093000", "NgayTiepNhan": ""}
    body = {"service": "DongBoHoSoMC", "MaDongBo": "sim-1", "isUpdating": False, "data": [hoso]}
    r = sim.post("/dvcqg/api/dongbo", json=body)
    assert r.status_code == 200 and r.json()["error_code"] == 0 and r.json()["TrungLap"] is False, r.text
    r = sim.post("/dvcqg/api/dongbo", json=body)
    assert r.status_code == 200 and r.json()["TrungLap"] is True
    assert [i["SoLanNhan"] for i in sim.syncs("SIM-TEST-1")] == [2]
    # a new sync id creating it again: it exists
    r = sim.post("/dvcqg/api/dongbo", json=dict(body, MaDongBo="sim-2"))
    assert r.status_code == 400 and r.json()["error_code"] == 3
    bad = dict(hoso, TrangThaiHoSo=11)
    r = sim.post("/dvcqg/api/dongbo", json=dict(body, MaDongBo="sim-3", data=[bad]))
    assert r.status_code == 400 and r.json()["error_code"] == 1 and "TrangThaiHoSo" in r.json()["message"]
    bad = dict(hoso, NgayNopHoSo="2025-03-14")
    r = sim.post("/dvcqg/api/dongbo", json=dict(body, MaDongBo="sim-4", data=[bad]))
    assert r.status_code == 400 and "NgayNopHoSo" in r.json()["message"]
    step = {"MaHoSo": "SIM-UNKNOWN", "NguoiXuLy": "Đỗ Thị Hằng", "ThoiDiemXuLy": "20250314100000",
            "NoiDungXuLy": "Tiếp nhận hồ sơ", "TrangThai": 2}
    r = sim.post("/dvcqg/api/dongbo", json={"service": "CapNhatTienDoHoSoMC", "MaDongBo": "sim-5", "data": [step]})
    assert r.status_code == 400 and r.json()["error_code"] == 2
    assert sim.hoso("SIM-UNKNOWN").status_code == 404
    r = sim.post("/dvcqg/api/dongbo", json={"service": "XoaHoSo", "MaDongBo": "sim-6", "data": [hoso]})
    assert r.status_code == 400


# ---- prefill ----

def test_prefill_citizen_own_record(server):
    cit = citizen(server)
    r = cit.get("/api/v1/prefill/citizen")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "population" and body["fetched_at"]
    assert body["record"]["full_name"] == "Nguyễn Văn An" and body["record"]["birth_date"] == "1995-03-12"
    assert body["prefill"]["applicant"] == {
        "name": "Nguyễn Văn An", "id_number": CITIZEN_ID,
        "address": "Số 5 phố Trần Hưng Đạo, phường Trần Hưng Đạo, thành phố Hải Dương, tỉnh Hải Dương"}
    form = body["prefill"]["form"]
    assert form["birth_date"] == "1995-03-12" and form["applicant_name"] == "Nguyễn Văn An"
    assert form["applicant_address"] == {"commune": COMMUNE, "detail": "Số 5 phố Trần Hưng Đạo"}
    # nobody else's record, and no lookup of one's own is audited as an access by others
    assert_error(cit.get("/api/v1/prefill/citizen", params={"id_number": "030190004321"}), 403, "forbidden")
    assert cit.get("/api/v1/prefill/citizen", params={"id_number": CITIZEN_ID}).status_code == 200


def test_prefill_at_the_desk_is_audited(server):
    off = official(server, "canbo.thd")
    assert_error(off.get("/api/v1/prefill/citizen"), 422, "invalid", "id_number")
    assert_error(off.get("/api/v1/prefill/citizen", params={"id_number": "12345"}), 422, "invalid", "id_number")
    r = off.get("/api/v1/prefill/citizen", params={"id_number": "030190004321", "purpose": "Đăng ký kết hôn"})
    assert r.status_code == 200, r.text
    assert r.json()["record"]["full_name"] == "Lê Thị Thu"
    assert r.json()["record"]["spouse_name"] == "Trần Văn Bảo"
    # a valid number the population database does not know
    r = off.get("/api/v1/prefill/citizen", params={"id_number": "030299999999"})
    body = assert_error(r, 404, "not_found")
    assert "population" in body["error"]["message"] or "dân cư" in body["error"]["message"]
    admin = server.admin()
    entries = admin.get("/api/v1/audit", params={"object": "citizen:030190004321"}).json()["items"]
    assert entries and entries[0]["action"] == "national.lookup"
    change = entries[0]["change"]
    change = json.loads(change) if isinstance(change, str) else change
    assert change["purpose"] == "Đăng ký kết hôn" and change["outcome"] == "found" and change["system"] == "population"
    assert entries[0]["actor"].endswith(":canbo.thd")
    unknown = admin.get("/api/v1/audit", params={"object": "citizen:030299999999"}).json()["items"]
    assert unknown and "not_found" in json.dumps(unknown)
    # admins are not desk officials
    assert_error(admin.get("/api/v1/prefill/citizen", params={"id_number": CITIZEN_ID}), 403, "forbidden")
    assert_error(server.get("/api/v1/prefill/citizen"), 401, "unauthenticated")


def test_prefill_when_the_database_fails(server, sim):
    cit = citizen(server)
    assert sim.post("/national/fail", json={"system": "population", "count": 1}).status_code == 200
    body = assert_error(cit.get("/api/v1/prefill/citizen"), 502, "bad_gateway")
    assert "population" in body["error"]["message"] and "503" in body["error"]["message"]
    assert cit.get("/api/v1/prefill/citizen").status_code == 200  # recovered


@pytest.mark.parametrize("via", ["gateway", "direct"])
def test_prefill_down_slow_unconfigured(make_server, via):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    hole = socket.socket()  # accepts connections (backlog) and never answers
    hole.bind(("127.0.0.1", 0))
    hole.listen(8)
    try:
        s = make_server(env={"TINHSO_POPULATION_URL": "http://127.0.0.1:%d/population" % closed_port,
                             "TINHSO_BUSINESS_URL": "http://127.0.0.1:%d/business" % hole.getsockname()[1],
                             "TINHSO_NATIONAL_TIMEOUT_MS": "500", "TINHSO_NATIONAL_VIA": via})
        cit = citizen(s)
        body = assert_error(cit.get("/api/v1/prefill/citizen"), 502, "bad_gateway")
        assert "population" in body["error"]["message"]
        if via == "direct":
            assert "cannot reach the population" in body["error"]["message"]
        else:
            assert "through the LGSP" in body["error"]["message"]
        t0 = time.time()
        body = assert_error(cit.get("/api/v1/prefill/enterprise", params={"tax_code": "0801234567"}), 504,
                            "gateway_timeout")
        assert "business" in body["error"]["message"] and time.time() - t0 < 5
        # no sim_url and no judicial_url: not configured
        body = assert_error(cit.get("/api/v1/national/judicial"), 503, "unavailable")
        assert "judicial_url" in body["error"]["message"]
        # the server still serves meanwhile
        assert s.get("/livez").status_code == 200
    finally:
        hole.close()


def test_enterprise_land_insurance_judicial(server):
    cit = citizen(server)
    off = official(server, "canbo.thd")
    r = cit.get("/api/v1/prefill/enterprise", params={"tax_code": "0801234567"})
    assert r.status_code == 200, r.text
    pre = r.json()["prefill"]
    assert pre["business_name"] == "Công ty TNHH Thương mại và Dịch vụ Hoàng Long"
    assert pre["head_office_address"]["commune"] == "000.04.31.H23"
    assert_error(cit.get("/api/v1/prefill/enterprise", params={"tax_code": "12"}), 422, "invalid", "tax_code")
    assert_error(cit.get("/api/v1/prefill/enterprise", params={"tax_code": "0809999999"}), 404, "not_found")

    r = off.get("/api/v1/national/land-parcels", params={"commune": COMMUNE, "sheet": "12", "parcel": "345"})
    assert r.status_code == 200, r.text
    assert "Nguyễn Văn An" in r.json()["summary"] and r.json()["record"]["certificate"]["serial"] == "CS 01234"
    assert_error(off.get("/api/v1/national/land-parcels", params={"commune": COMMUNE, "sheet": "x", "parcel": "1"}),
                 422, "invalid", "sheet")
    assert_error(off.get("/api/v1/national/land-parcels", params={"commune": COMMUNE, "sheet": "12", "parcel": "9"}),
                 404, "not_found")
    assert_error(cit.get("/api/v1/national/land-parcels", params={"commune": COMMUNE, "sheet": "12", "parcel": "345"}),
                 403, "forbidden")

    r = cit.get("/api/v1/national/insurance")
    assert r.status_code == 200 and r.json()["record"]["number"] == "3012345678"
    assert_error(cit.get("/api/v1/national/insurance", params={"number": "3009123456"}), 403, "forbidden")
    r = off.get("/api/v1/national/insurance", params={"number": "3009123456"})
    assert r.status_code == 200 and r.json()["record"]["full_name"] == "Trần Văn Bảo"
    r = off.get("/api/v1/national/judicial", params={"id_number": "030074025788"})
    assert r.status_code == 200 and "Có án tích" in r.json()["summary"]
    assert cit.get("/api/v1/national/judicial").json()["record"]["status"] == "no_record"
    admin = server.admin()
    audit = admin.get("/api/v1/audit", params={"object": "land:%s/12/345" % COMMUNE}).json()["items"]
    assert audit and audit[0]["action"] == "national.lookup"
    assert admin.get("/api/v1/audit", params={"object": "citizen:030074025788"}).json()["items"]


def test_dossier_ecopies(server):
    proc = procedure(server, BIRTH)
    cit = citizen(server)
    r = submit(cit, proc)  # the identity card is not uploaded: the population database supplies it
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    off = official(server, "canbo.thd")
    assert_error(cit.post("/api/v1/dossiers/%s/ecopies" % code), 403, "forbidden")
    r = off.post("/api/v1/dossiers/%s/ecopies" % code)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    idx = [i for i, d in enumerate(proc["documents"]) if d.get("ecopy_source")]
    assert [x["doc_index"] for x in items] == idx
    x = items[0]
    assert x["source"] == "population" and x["key"] == CITIZEN_ID and x["outcome"] == "found"
    assert x["summary"].startswith("Nguyễn Văn An, sinh ngày 1995-03-12") and x["record"]["id_number"] == CITIZEN_ID
    listed = off.get("/api/v1/dossiers/%s/ecopies" % code).json()["items"]
    assert [(e["source"], e["key"], e["outcome"]) for e in listed] == [("population", CITIZEN_ID, "found")]
    assert cit.get("/api/v1/dossiers/%s/ecopies" % code).status_code == 200  # the applicant sees what was fetched
    audit = server.admin().get("/api/v1/audit", params={"object": "dossier:" + code}).json()["items"]
    assert "national.ecopies" in [a["action"] for a in audit]
    # officials elsewhere see nothing
    server.add_user("canbo.ecopy.chilinh", "official", agency=OTHER_COMMUNE)
    other = server.login("canbo.ecopy.chilinh")
    assert_error(other.post("/api/v1/dossiers/%s/ecopies" % code), 404, "not_found")
    assert_error(other.get("/api/v1/dossiers/%s/ecopies" % code), 404, "not_found")


# ---- the national portal ----

def test_full_flow_pushed_in_order_exactly_once(server, sim):
    code, cit, off = full_flow(server)
    hist = off.get("/api/v1/dossiers/%s/history" % code).json()["items"]
    assert [h["action"] for h in hist] == ["submit", "receive", "forward", "approve", "issue_result", "return_result"]
    state = wait_sync(off, code, synced(6))
    assert state["failed"] == 0 and state["pending"] == 0 and state["last_error"] is None
    assert state["portal"] == "DVCQG" and state["portal_configured"] is True and state["synced_at"]
    step_ids = [i["step_id"] for i in state["items"]]
    assert step_ids == sorted(step_ids) and len(step_ids) == 6
    assert [i["action"] for i in state["items"]] == [h["action"] for h in hist]
    assert all(i["state"] == "pushed" and i["attempts"] == 1 and i["pushed_at"] for i in state["items"])
    assert state["pushed_step_id"] == step_ids[-1]

    items = assert_once_in_order(sim, code, step_ids)
    assert all(i["SoLanNhan"] == 1 and DATE14.match(i["ThoiDiemNhan"]) for i in items)
    r = sim.hoso(code)
    assert r.status_code == 200, r.text
    portal = r.json()
    assert portal["SoLanCapNhat"] == 6
    d = off.get("/api/v1/dossiers/" + code).json()
    h = portal["HoSo"]
    assert h["MaHoSo"] == code and h["MaTTHC"] == BIRTH and h["TenTTHC"] == d["procedure_name"]
    assert h["MaDonVi"] == COMMUNE and h["ChuHoSo"] == "Nguyễn Văn An" and h["MaDoiTuong"] == CITIZEN_ID
    assert h["TrangThaiHoSo"] == 10 and h["KenhThucHien"] == 2 and h["KetQuaXuLy"] == "1"
    assert h["NgayNopHoSo"] == portal_time(d["submitted_at"])
    assert h["NgayTiepNhan"] == portal_time(d["received_at"])
    assert h["NgayHenTra"] == portal_time(d["due_at"])
    assert h["NgayTra"] == portal_time(d["returned_at"]) and DATE14.match(h["NgayKetThucXuLy"])
    steps = portal["QuaTrinhXuLy"]
    assert [s["TrangThai"] for s in steps] == [x["status"] for x in hist]
    assert [s["ThoiDiemXuLy"] for s in steps] == [portal_time(x["at"]) for x in hist]
    assert all(s["MaHoSo"] == code and DATE14.match(s["ThoiDiemXuLy"]) for s in steps)
    rec = steps[1]
    assert rec["NguoiXuLy"] == "Đỗ Thị Hằng" and rec["ChucDanh"] == "Công chức Tư pháp - Hộ tịch"
    assert rec["PhongBanXuLy"] == "Ủy ban nhân dân phường Trần Hưng Đạo"
    assert rec["NoiDungXuLy"] == "Tiếp nhận hồ sơ: Hồ sơ đầy đủ"
    assert rec["NgayBatDau"] == portal_time(hist[1]["step_start"])
    assert rec["NgayKetThucTheoQuyDinh"] == portal_time(hist[1]["step_deadline"])
    assert steps[0]["NguoiXuLy"] == "Nguyễn Văn An" and steps[0]["PhongBanXuLy"] == ""

    # who sees the sync state: officials in scope; not the citizen; not other agencies
    assert_error(cit.get("/api/v1/dossiers/%s/sync" % code), 403, "forbidden")
    server.add_user("canbo.sync.chilinh", "official", agency=OTHER_COMMUNE)
    other = server.login("canbo.sync.chilinh")
    assert_error(other.get("/api/v1/dossiers/%s/sync" % code), 404, "not_found")
    assert_error(off.get("/api/v1/dossiers/000.08.31.H23-991231-9999/sync"), 404, "not_found")
    assert server.admin().get("/api/v1/dossiers/%s/sync" % code).status_code == 200


def test_desk_intake_pushed(server, sim):
    off = official(server, "canbo.thd")
    proc = procedure(server, BIRTH)
    body = {"procedure_code": BIRTH, "agency_code": COMMUNE, "channel": "postal", "form": valid_form(proc),
            "applicant": {"name": "Trần Văn Bảo", "id_number": "030090009999", "phone": "0988777666"}}
    r = off.post("/api/v1/dossiers", json=body)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    state = wait_sync(off, code, synced(1))
    h = sim.hoso(code).json()["HoSo"]
    assert h["TrangThaiHoSo"] == 2 and h["KenhThucHien"] == 3 and h["NgayTiepNhan"] and h["ChuHoSo"] == "Trần Văn Bảo"
    assert [i["action"] for i in state["items"]] == ["receive"]


def test_portal_down_then_recovers(server, sim):
    proc = procedure(server, BIRTH)
    cit = citizen(server)
    off = official(server, "canbo.thd")
    # two calls fail: the dossier's first push fails twice, then everything goes, in order
    assert sim.post("/dvcqg/fail", json={"count": 2}).status_code == 200
    code = submit(cit, proc).json()["code"]
    assert act(off, code, "receive").status_code == 200
    state = wait_sync(off, code, lambda s: s["attempts"] >= 1 and s["last_error"])
    assert state["status"] == "pending" and "503" in state["last_error"], state
    first = state["items"][0]
    assert first["state"] == "pending" and first["next_attempt_at"] and "503" in first["last_error"]
    assert state["items"][1]["attempts"] == 0  # held back behind the first
    state = wait_sync(off, code, synced(2), timeout=60)
    assert state["items"][0]["attempts"] == 3 and state["items"][1]["attempts"] == 1
    assert state["last_error"] is None and state["attempts"] == 4
    items = assert_once_in_order(sim, code, [i["step_id"] for i in state["items"]])
    assert all(i["SoLanNhan"] == 1 for i in items)  # refused calls were not taken in
    assert [s["TrangThai"] for s in sim.hoso(code).json()["QuaTrinhXuLy"]] == [1, 2]


def test_kill9_in_the_middle_loses_and_duplicates_nothing(make_server, own_sim):
    sim = own_sim
    s = make_server(env={"TINHSO_SIM_URL": sim.base})
    proc = procedure(s, BIRTH)
    cit = citizen(s)
    off = official(s, "canbo.thd")
    lead = official(s, "lanhdao.thd")
    assert sim.post("/dvcqg/fail", json={"count": 1000}).status_code == 200
    try:
        code = submit(cit, proc).json()["code"]
        assert act(off, code, "receive").status_code == 200
        assert act(off, code, "forward").status_code == 200
        wait_sync(off, code, lambda st: st["attempts"] >= 1)
        s.stop(signal.SIGKILL)
    finally:
        sim.post("/dvcqg/fail", json={"count": 0})
    s.start()
    off = official(s, "canbo.thd")
    lead = official(s, "lanhdao.thd")
    assert act(lead, code, "approve").status_code == 200
    state = wait_sync(off, code, synced(4), timeout=60)
    step_ids = [i["step_id"] for i in state["items"]]
    assert [i["action"] for i in state["items"]] == ["submit", "receive", "forward", "approve"]
    items = assert_once_in_order(sim, code, step_ids)
    assert all(i["SoLanNhan"] == 1 for i in items)

    # a crash after a push and before its record (simulated: the records undone) pushes
    # again; the portal answers it as a duplicate of the sync id and keeps one copy
    s.stop()
    s.sql("UPDATE outbox SET done_at = NULL, claimed_until = 0, next_at = 0 WHERE kind = 'sync' AND dedupe LIKE '%s:%%'"
          % code)
    s.sql("UPDATE dossier_sync SET pushed = 0, status = 'pending' WHERE dossier_code = '%s'" % code)
    s.start()
    off = official(s, "canbo.thd")
    state = wait_sync(off, code, synced(4), timeout=60)
    items = assert_once_in_order(sim, code, step_ids)
    assert all(i["SoLanNhan"] == 2 for i in items)
    portal = sim.hoso(code).json()
    assert len(portal["QuaTrinhXuLy"]) == 4 and portal["SoLanCapNhat"] == 4
    assert portal["HoSo"]["TrangThaiHoSo"] == 4


def test_refused_push_given_up_then_requeued(make_server, own_sim):
    sim = own_sim
    s = make_server(env={"TINHSO_SIM_URL": sim.base, "TINHSO_OUTBOX_MAX_ATTEMPTS": "1"})
    proc = procedure(s, BIRTH)
    cit = citizen(s)
    off = official(s, "canbo.thd")
    assert sim.post("/dvcqg/fail", json={"count": 1}).status_code == 200
    code = submit(cit, proc).json()["code"]
    # one attempt allowed: the creation is given up; the receive step then finds no dossier at
    # the portal (error_code 2) and is refused for good
    state = wait_sync(off, code, lambda st: st["failed"] == 1)
    assert state["status"] == "failed" and state["items"][0]["state"] == "failed"
    assert act(off, code, "receive").status_code == 200
    state = wait_sync(off, code, lambda st: st["failed"] == 2)
    assert "chưa được đồng bộ" in state["items"][1]["last_error"] and state["status"] == "failed"
    assert sim.hoso(code).status_code == 404
    cit_err = cit.post("/api/v1/dossiers/%s/sync/retry" % code)
    assert_error(cit_err, 403, "forbidden")
    r = off.post("/api/v1/dossiers/%s/sync/retry" % code)
    assert r.status_code == 200 and r.json()["requeued"] == 2, r.text
    state = wait_sync(off, code, synced(2))
    assert_once_in_order(sim, code, [i["step_id"] for i in state["items"]])
    assert sim.hoso(code).json()["HoSo"]["TrangThaiHoSo"] == 2
    assert off.post("/api/v1/dossiers/%s/sync/retry" % code).json()["requeued"] == 0
    audit = s.admin().get("/api/v1/audit", params={"object": "dossier:" + code}).json()["items"]
    assert "sync.retry" in [a["action"] for a in audit]


# ---- through the LGSP ----

def test_through_the_lgsp(make_server, own_sim):
    """national_via = gateway: the national systems are services of national members on the
    platform, every call is in the message log, and the citizen sees who read their data."""
    sim = own_sim
    s = make_server(env={"TINHSO_SIM_URL": sim.base, "TINHSO_NATIONAL_VIA": "gateway"})
    admin = s.admin()
    client = "000.00.01.H23/MOTCUA"
    rights = admin.get("/api/v1/exchange/access", params={"client": client}).json()["items"]
    assert sorted(a["service"] for a in rights) == sorted([
        "BCA/CSDLQGDC/population", "BKHDT/DKKD/business", "BTNMT/CSDLDD/land", "BHXHVN/CSDLBH/insurance",
        "BTP/LLTP/judicial", "VPCP/DVCQG/dossier-sync"])
    svc = admin.get("/api/v1/exchange/services/BCA/CSDLQGDC/population").json()
    assert svc["backend_url"] == sim.base + "/population" and svc["personal_data"] is True

    before = sim.get("/national/stats").json()["population"]
    off = official(s, "canbo.thd")
    r = off.get("/api/v1/prefill/citizen", params={"id_number": CITIZEN_ID, "purpose": "Đăng ký khai sinh cho con"})
    assert r.status_code == 200, r.text
    mid = r.json()["message_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", mid) and r.json()["record"]["full_name"] == "Nguyễn Văn An"
    assert sim.get("/national/stats").json()["population"] == before + 1
    log = admin.get("/api/v1/exchange/log", params={"service": "BCA/CSDLQGDC/population"}).json()["items"]
    rec = [x for x in log if x["message_id"] == mid]
    assert rec and rec[0]["client"] == client and rec[0]["purpose"] == "Đăng ký khai sinh cho con"
    assert rec[0]["subject"] == CITIZEN_ID and rec[0]["path"].endswith("citizens/" + CITIZEN_ID)
    # the audit names the message id, and the citizen sees the access
    audit = admin.get("/api/v1/audit", params={"object": "citizen:" + CITIZEN_ID}).json()["items"]
    assert mid in json.dumps(audit)
    cit = citizen(s)
    seen = cit.get("/api/v1/me/data-access").json()["items"]
    assert any(x["message_id"] == mid and x["purpose"] == "Đăng ký khai sinh cho con" for x in seen), seen

    # the database failing is still a clear 502, and logged by the platform
    assert sim.post("/national/fail", json={"system": "population", "count": 1}).status_code == 200
    assert_error(cit.get("/api/v1/prefill/citizen"), 502, "bad_gateway")

    # the portal sync goes through the platform too
    proc = procedure(s, BIRTH)
    code = submit(cit, proc).json()["code"]
    assert act(off, code, "receive").status_code == 200
    state = wait_sync(off, code, synced(2))
    assert_once_in_order(sim, code, [i["step_id"] for i in state["items"]])
    log = admin.get("/api/v1/exchange/log", params={"service": "VPCP/DVCQG/dossier-sync"}).json()["items"]
    assert len(log) == 4 and all(x["status"] == 200 and x["path"].endswith("api/dongbo") for x in log)

    # a restart registers nothing twice and keeps working
    s.stop()
    s.start()
    assert len(admin.get("/api/v1/exchange/access", params={"client": client}).json()["items"]) == 6
    assert citizen(s).get("/api/v1/prefill/citizen").status_code == 200
