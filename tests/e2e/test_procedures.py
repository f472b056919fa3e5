"""The procedure catalogue and the working-day calendar through the real
server: the demo catalogue, search (accents ignored), filters, the fields
view, one procedure, admin create/replace with validation errors named by
path, authority (401/403), audit entries; the calendar's year view, due dates
across Tết 2026, admin changes to the holidays; and the import/export
command-line round trip."""
import copy
import json
import os

import pytest

from conftest import DEMO_PASSWORD, assert_error

BIRTH = "1.001193"
DEMO_COUNT = 36


def demo_catalogue():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "data", "demo", "procedures.json"), encoding="utf-8") as f:
        return json.load(f)


def all_items(server, **params):
    params.setdefault("per_page", 200)
    r = server.get("/api/v1/procedures", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def new_procedure(code, name="Thủ tục thử nghiệm đăng ký biển hiệu"):
    p = copy.deepcopy(next(x for x in demo_catalogue() if x["code"] == BIRTH))
    p.update({"code": code, "name": name, "name_en": "Test signboard registration", "field": "Thử nghiệm",
              "field_en": "Testing"})
    return p


# ---- the catalogue ----

def test_demo_catalogue(server):
    body = all_items(server)
    assert body["total"] >= DEMO_COUNT and body["page"] == 1
    codes = [x["code"] for x in body["items"]]
    assert codes == sorted(codes)
    for p in demo_catalogue():
        assert p["code"] in codes
    birth = next(x for x in body["items"] if x["code"] == BIRTH)
    assert birth["name"] == "Thủ tục đăng ký khai sinh"
    assert birth["levels"] == ["commune"] and birth["online"] == "full" and birth["processing_days"] == 1
    assert birth["fee_min"] == 0 and birth["fee_max"] == 0 and birth["code_is_sample"] is False
    assert "workflow" not in birth  # lists carry summaries
    levels = {lv for x in body["items"] for lv in x["levels"]}
    assert {"commune", "district", "province"} <= levels
    page2 = server.get("/api/v1/procedures", params={"per_page": 10, "page": 2}).json()
    assert [x["code"] for x in page2["items"]] == codes[10:20]


def test_search_ignores_accents(server):
    body = server.get("/api/v1/procedures", params={"q": "khai sinh"}).json()
    assert "Thủ tục đăng ký khai sinh" in [x["name"] for x in body["items"]]
    body = server.get("/api/v1/procedures", params={"q": "ĐĂNG KÝ kết hôn"}).json()
    assert BIRTH not in [x["code"] for x in body["items"]]
    assert any("kết hôn" in x["name"] for x in body["items"])
    # words in any order, English names too, code prefixes
    body = server.get("/api/v1/procedures", params={"q": "sinh khai"}).json()
    assert BIRTH in [x["code"] for x in body["items"]]
    body = server.get("/api/v1/procedures", params={"q": "birth registration"}).json()
    assert BIRTH in [x["code"] for x in body["items"]]
    body = server.get("/api/v1/procedures", params={"q": "1.00119"}).json()
    assert [x["code"] for x in body["items"]] == [BIRTH]
    for q in ("không có thủ tục nào như thế", "%", "_", "\\"):
        assert server.get("/api/v1/procedures", params={"q": q}).json()["total"] == 0, q


def test_filters(server):
    body = all_items(server, field="Hộ tịch")
    assert body["total"] >= 5 and all(x["field"] == "Hộ tịch" for x in body["items"])
    body = all_items(server, level="district")
    assert body["total"] == 10 and all("district" in x["levels"] for x in body["items"])
    body = all_items(server, online="full")
    assert body["total"] >= 10 and all(x["online"] == "full" for x in body["items"])
    both = all_items(server, online="none", level="commune")
    assert both["total"] >= 1
    assert all(x["online"] == "none" and "commune" in x["levels"] for x in both["items"])
    province = all_items(server, level="province")
    assert province["total"] == 13
    assert all(x["handled_by"].startswith("department:") for x in province["items"])
    assert_error(server.get("/api/v1/procedures?level=region"), 422, "invalid", "level")
    assert_error(server.get("/api/v1/procedures?online=level4"), 422, "invalid", "online")
    assert_error(server.get("/api/v1/procedures?per_page=500"), 422, "invalid", "per_page")


def test_fields(server):
    r = server.get("/api/v1/procedures/fields")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    total = all_items(server)["total"]
    assert sum(x["count"] for x in items) == total
    assert r.json()["total"] == len(items)
    civil = next(x for x in items if x["field"] == "Hộ tịch")
    assert civil["field_en"] == "Civil status" and civil["count"] >= 5
    prov = server.get("/api/v1/procedures/fields", params={"level": "province"}).json()["items"]
    assert sum(x["count"] for x in prov) == all_items(server, level="province")["total"]
    assert_error(server.get("/api/v1/procedures/fields?level=x"), 422, "invalid", "level")


def test_get_one(server):
    r = server.get("/api/v1/procedures/" + BIRTH)
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["code"] == BIRTH and p["name"] == "Thủ tục đăng ký khai sinh"
    assert p["created_at"].endswith("+07:00") and p["updated_at"]
    assert [s["step"] for s in p["workflow"]] == ["receive", "process", "approve", "return"]
    assert sum(s["share"] for s in p["workflow"]) == 100
    assert p["documents"][2]["ecopy_source"] == "population"
    assert p["form_fields"][2]["options"] == ["Nam", "Nữ"]
    assert p["legal_basis"].startswith("Luật Hộ tịch")
    assert p["note_en"]
    # the document as the demo file has it, plus the timestamps
    demo = next(x for x in demo_catalogue() if x["code"] == BIRTH)
    assert {k: v for k, v in p.items() if k not in ("created_at", "updated_at")} == demo
    assert_error(server.get("/api/v1/procedures/9.999999"), 404, "not_found")
    assert_error(server.get("/api/v1/procedures/abc"), 404, "not_found")


def test_admin_create_update_audited(server):
    admin = server.admin()
    body = new_procedure("9.990001")
    r = admin.post("/api/v1/procedures", json=body)
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/api/v1/procedures/9.990001"
    assert r.json()["name"] == body["name"] and r.json()["created_at"]
    assert_error(admin.post("/api/v1/procedures", json=body), 409, "conflict")
    r = server.get("/api/v1/procedures", params={"q": "thu nghiem bien hieu"})
    assert [x["code"] for x in r.json()["items"]] == ["9.990001"]
    assert "Thử nghiệm" in [x["field"] for x in server.get("/api/v1/procedures/fields").json()["items"]]

    # replace: what GET answered, changed (its timestamps are ignored)
    got = server.get("/api/v1/procedures/9.990001").json()
    got["processing_days"] = 5
    got["online"] = "partial"
    got["fees"] = [{"name": "Lệ phí", "amount": 20000, "note": ""}, {"name": "Lệ phí trực tuyến", "amount": 10000,
                                                                   "note": "nộp trực tuyến"}]
    r = admin.put("/api/v1/procedures/9.990001", json=got)
    assert r.status_code == 200, r.text
    assert r.json()["processing_days"] == 5 and r.json()["created_at"] == got["created_at"]
    item = server.get("/api/v1/procedures", params={"q": "9.990001"}).json()["items"][0]
    assert item["online"] == "partial" and item["fee_min"] == 10000 and item["fee_max"] == 20000
    # the code cannot change; without one the URL's is used
    got["code"] = "9.990002"
    assert_error(admin.put("/api/v1/procedures/9.990001", json=got), 422, "invalid", "code")
    del got["code"]
    assert admin.put("/api/v1/procedures/9.990001", json=got).status_code == 200
    assert_error(admin.put("/api/v1/procedures/9.990003", json=got), 404, "not_found")

    audit = admin.get("/api/v1/audit", params={"object": "procedure:9.990001"}).json()
    assert [x["action"] for x in audit["items"]] == ["procedure.update", "procedure.update", "procedure.create"]
    assert audit["items"][0]["actor"].endswith(":admin")
    change = audit["items"][1]["change"]
    assert change["before"]["processing_days"] == 1 and change["after"]["processing_days"] == 5


def test_validation_names_paths(server):
    admin = server.admin()
    body = new_procedure("9.990010")
    body["levels"] = ["region"]
    body["online"] = "level4"
    body["processing_days"] = 0
    body["documents"][1]["types"] = ["pdf", "exe"]
    body["documents"][2]["ecopy_source"] = "tax"
    body["form_fields"][0]["name"] = "Child Name"
    body["form_fields"][2]["options"] = []
    body["workflow"][2]["share"] = 0
    body["workflow"][1]["actions"] = ["forward", "fly"]
    body["workflow"][1]["role"] = "citizen"
    body["fees"][0]["amount"] = -5
    body["colour"] = "red"
    r = admin.post("/api/v1/procedures", json=body)
    fields = assert_error(r, 422, "invalid")["error"]["details"]["fields"]
    for f in ("levels[0]", "online", "processing_days", "documents[1].types[1]", "documents[2].ecopy_source",
              "form_fields[0].name", "form_fields[2].options", "workflow[2].share", "workflow[1].actions[1]",
              "workflow[1].role", "fees[0].amount", "colour"):
        assert f in fields, (f, fields)
    # the shares must sum to 100; a step's level must be one of the procedure's
    body = new_procedure("9.990011")
    body["workflow"][0]["share"] = 20
    body["workflow"][3]["level"] = "province"
    fields = assert_error(admin.post("/api/v1/procedures", json=body), 422, "invalid")["error"]["details"]["fields"]
    assert "workflow" in fields and "workflow[3].level" in fields
    # the department must exist
    body = new_procedure("9.990012")
    body["levels"] = ["province"]
    for s in body["workflow"]:
        s["level"] = "province"
    body["handled_by"] = "department:000.00.99.H23"
    assert_error(admin.post("/api/v1/procedures", json=body), 422, "invalid", "handled_by")
    body["handled_by"] = "department:000.00.03.H23"
    assert admin.post("/api/v1/procedures", json=body).status_code == 201
    # not JSON, not an object
    r = admin.post("/api/v1/procedures", data="{", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "bad_request")
    assert_error(admin.post("/api/v1/procedures", json=[1]), 422, "invalid", "body")
    for code in ("9.990010", "9.990011"):
        assert_error(server.get("/api/v1/procedures/" + code), 404, "not_found")


def test_authority(server):
    body = new_procedure("9.990020")
    assert_error(server.post("/api/v1/procedures", json=body), 401, "unauthenticated")
    official = server.login("canbo.ttphc", DEMO_PASSWORD)
    assert_error(official.post("/api/v1/procedures", json=body), 403, "forbidden")
    assert_error(official.put("/api/v1/procedures/" + BIRTH, json=body), 403, "forbidden")
    citizen = server.login("030095001234", DEMO_PASSWORD)
    assert_error(citizen.post("/api/v1/procedures", json=body), 403, "forbidden")
    assert_error(server.get("/api/v1/procedures/9.990020"), 404, "not_found")
    day = {"date": "2026-06-01", "kind": "holiday", "name_vi": "Nghỉ", "name_en": "Off"}
    assert_error(server.post("/api/v1/calendar/days", json=day), 401, "unauthenticated")
    assert_error(official.post("/api/v1/calendar/days", json=day), 403, "forbidden")
    assert_error(citizen.delete("/api/v1/calendar/days/2026-01-01"), 403, "forbidden")
    assert server.get("/api/v1/calendar", params={"year": 2026}).json()["days"][0]["date"] == "2026-01-01"


# ---- the calendar ----

def test_calendar_year(server):
    r = server.get("/api/v1/calendar", params={"year": 2026})
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["year"] == 2026 and c["known"] and c["announced"]
    assert c["timezone"] == "Asia/Ho_Chi_Minh" and c["utc_offset"] == "+07:00"
    assert c["working_weekdays"] == ["monday", "tuesday", "wednesday", "thursday", "friday"]
    assert c["office_hours"] == [{"open": "07:30", "close": "11:30"}, {"open": "13:00", "close": "17:00"}]
    assert c["office_minutes_per_day"] == 480
    days = {d["date"]: d for d in c["days"]}
    for d in ("2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19", "2026-02-20"):
        assert days[d]["kind"] == "holiday" and days[d]["name_vi"] == "Tết Nguyên Đán", d
    assert days["2026-01-10"]["kind"] == "workday" and days["2026-01-10"]["weekday"] == "saturday"
    assert days["2026-04-26"]["name_en"].startswith("Hùng Kings")
    # 261 weekdays in 2026, minus the weekday holidays, plus the Saturdays worked
    weekday_off = sum(1 for d in c["days"] if d["kind"] == "holiday" and d["weekday"] not in ("saturday", "sunday"))
    worked = sum(1 for d in c["days"] if d["kind"] == "workday")
    assert c["working_days"] == 261 - weekday_off + worked
    c27 = server.get("/api/v1/calendar", params={"year": 2027}).json()
    assert c27["known"] and not c27["announced"]
    c40 = server.get("/api/v1/calendar", params={"year": 2040}).json()
    assert not c40["known"] and c40["days"] == []
    assert server.get("/api/v1/calendar").json()["year"] >= 2025
    assert_error(server.get("/api/v1/calendar?year=1800"), 422, "invalid", "year")
    assert_error(server.get("/api/v1/calendar?year=abc"), 422, "invalid", "year")


def due(server, frm, days):
    r = server.get("/api/v1/calendar/due", params={"from": frm, "days": days})
    assert r.status_code == 200, r.text
    return r.json()["due"]


def test_due_across_tet_2026(server):
    # Friday 13 February 09:00 + 3 working days: Tết 16-20 February, back Monday 23: due Wednesday 25, 09:00
    assert due(server, "2026-02-13T09:00:00+07:00", 3) == "2026-02-25T09:00:00+07:00"
    # the same instant written in UTC
    assert due(server, "2026-02-13T02:00:00Z", 3) == "2026-02-25T09:00:00+07:00"
    # received during Tết: counting starts at the first opening after it
    assert due(server, "2026-02-18T10:00:00+07:00", 1) == "2026-02-23T17:00:00+07:00"
    # Tết 2025 (27-31 January)
    assert due(server, "2025-01-24T15:00:00+07:00", 2) == "2025-02-04T15:00:00+07:00"
    r = server.get("/api/v1/calendar/due", params={"from": "2026-02-13T09:00:00+07:00", "days": 0}).json()
    assert r["due"] == r["from"] == "2026-02-13T09:00:00+07:00" and r["days"] == 0
    assert server.get("/api/v1/calendar/due", params={"days": 1}).json()["due"]
    assert_error(server.get("/api/v1/calendar/due?from=2026-02-13T09:00:00%2B07:00"), 422, "invalid", "days")
    assert_error(server.get("/api/v1/calendar/due?from=yesterday&days=1"), 422, "invalid", "from")
    assert_error(server.get("/api/v1/calendar/due?days=-1"), 422, "invalid", "days")
    assert_error(server.get("/api/v1/calendar/due?days=100000"), 422, "invalid", "days")


def test_calendar_admin_changes(server):
    admin = server.admin()
    assert due(server, "2026-05-29T09:00:00+07:00", 1) == "2026-06-01T09:00:00+07:00"
    day = {"date": "2026-06-01", "kind": "holiday", "name_vi": "Nghỉ bù bão", "name_en": "Storm day off"}
    r = admin.post("/api/v1/calendar/days", json=day)
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/api/v1/calendar/days/2026-06-01"
    assert r.json() == dict(day, announced=True)
    # the next request already counts it
    assert due(server, "2026-05-29T09:00:00+07:00", 1) == "2026-06-02T09:00:00+07:00"
    c = server.get("/api/v1/calendar", params={"year": 2026}).json()
    assert any(d["date"] == "2026-06-01" and d["weekday"] == "monday" for d in c["days"])
    assert_error(admin.post("/api/v1/calendar/days", json=day), 409, "conflict")
    assert_error(admin.post("/api/v1/calendar/days", json=dict(day, date="2026-01-01")), 409, "conflict")
    r = admin.post("/api/v1/calendar/days", json=dict(day, date="2026-06-03", kind="workday"))
    assert_error(r, 422, "invalid", "date")  # a Wednesday is already worked
    r = admin.post("/api/v1/calendar/days", json={"date": "2026-02-30", "kind": "feast", "name_vi": "",
                                                   "extra": 1})
    fields = assert_error(r, 422, "invalid")["error"]["details"]["fields"]
    assert {"name_en", "extra"} <= set(fields)
    r = admin.post("/api/v1/calendar/days", json={"date": "2026-02-30", "kind": "feast", "name_vi": "x",
                                                   "name_en": "y"})
    fields = assert_error(r, 422, "invalid")["error"]["details"]["fields"]
    assert {"date", "kind"} <= set(fields)
    # a Saturday worked
    r = admin.post("/api/v1/calendar/days", json={"date": "2026-06-06", "kind": "workday", "name_vi": "Làm bù",
                                                   "name_en": "Worked Saturday", "announced": False})
    assert r.status_code == 201 and r.json()["announced"] is False
    assert not server.get("/api/v1/calendar", params={"year": 2026}).json()["announced"]
    assert due(server, "2026-06-05T16:00:00+07:00", 1) == "2026-06-06T16:00:00+07:00"

    r = admin.delete("/api/v1/calendar/days/2026-06-01")
    assert r.status_code == 204 and r.text == ""
    assert admin.delete("/api/v1/calendar/days/2026-06-06").status_code == 204
    assert due(server, "2026-05-29T09:00:00+07:00", 1) == "2026-06-01T09:00:00+07:00"
    assert server.get("/api/v1/calendar", params={"year": 2026}).json()["announced"]
    assert_error(admin.delete("/api/v1/calendar/days/2026-06-01"), 404, "not_found")
    assert_error(admin.delete("/api/v1/calendar/days/june"), 422, "invalid", "date")
    audit = admin.get("/api/v1/audit", params={"object": "calendar:2026-06-01"}).json()
    assert [x["action"] for x in audit["items"]] == ["calendar.day_delete", "calendar.day_add"]
    assert audit["items"][0]["change"]["name_en"] == "Storm day off"


# ---- import / export ----

def test_import_export_cli(make_server, tmp_path):
    s = make_server()
    r = s.cli("procedure", "export")
    exported = json.loads(r.stdout)
    demo = {p["code"]: p for p in demo_catalogue()}
    assert sorted(demo) == [p["code"] for p in exported]
    assert all(p == demo[p["code"]] for p in exported)

    # change one, add one: import them all, then export gives exactly that
    exported[0]["name"] = exported[0]["name"] + " (sửa đổi)"
    exported.append(new_procedure("9.990100"))
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(exported, ensure_ascii=False), encoding="utf-8")
    r = s.cli("procedure", "import", str(path))
    assert "imported %d procedures" % (DEMO_COUNT + 1) in r.stdout
    again = json.loads(s.cli("procedure", "export").stdout)
    assert again == sorted(exported, key=lambda p: p["code"])
    assert s.get("/api/v1/procedures/9.990100").json()["name"] == "Thủ tục thử nghiệm đăng ký biển hiệu"
    assert s.get("/api/v1/procedures/" + exported[0]["code"]).json()["name"].endswith("(sửa đổi)")
    admin = s.admin()
    audit = admin.get("/api/v1/audit", params={"action": "procedure.import"}).json()
    assert {x["object"] for x in audit["items"]} == {"procedure:9.990100", "procedure:" + exported[0]["code"]}

    # importing the same file again changes nothing
    s.cli("procedure", "import", str(path))
    assert admin.get("/api/v1/audit", params={"action": "procedure.import"}).json()["total"] == 2

    # all or nothing: one bad procedure, nothing is imported
    bad = copy.deepcopy(again)
    bad[0]["name"] = "Không được lưu"
    bad[1]["workflow"][2]["share"] = 0
    bad.append(new_procedure("9.990101"))
    path.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
    r = s.cli("procedure", "import", str(path), check=False)
    assert r.returncode == 65, r.stderr
    assert "[1].workflow[2].share" in r.stderr
    assert json.loads(s.cli("procedure", "export").stdout) == again
    assert s.get("/api/v1/procedures/9.990101").status_code == 404

    # not JSON; a missing file; standard input
    path.write_text("[{", encoding="utf-8")
    r = s.cli("procedure", "import", str(path), check=False)
    assert r.returncode == 65 and "malformed JSON" in r.stderr
    r = s.cli("procedure", "import", str(tmp_path / "nope.json"), check=False)
    assert r.returncode != 0 and "cannot read" in r.stderr
    r = s.cli("procedure", "import", "-", input=json.dumps([new_procedure("9.990102")]))
    assert "imported 1 procedure " in r.stdout
    assert s.get("/api/v1/procedures/9.990102").status_code == 200


def test_demo_is_idempotent(make_server):
    s = make_server(start=False)
    r = s.cli("demo")
    assert "0 procedures" in r.stdout or "procedures" not in r.stdout
    assert len(json.loads(s.cli("procedure", "export").stdout)) == DEMO_COUNT
