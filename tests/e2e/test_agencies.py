"""Agencies: the demo province, listing and filters, admin changes, audit."""
import pytest

from conftest import assert_error


def test_demo_province(server):
    r = server.get("/api/v1/agencies/000.00.00.H23")
    assert r.status_code == 200
    a = r.json()
    assert a["name"] == "Ủy ban nhân dân tỉnh Hải Dương"
    assert a["level"] == "province" and a["parent"] is None
    r = server.get("/api/v1/agencies?level=district&per_page=200")
    names = [x["name"] for x in r.json()["items"]]
    assert r.json()["total"] == 12
    for n in ["thành phố Hải Dương", "thành phố Chí Linh", "thị xã Kinh Môn", "huyện Bình Giang", "huyện Cẩm Giàng",
              "huyện Gia Lộc", "huyện Kim Thành", "huyện Nam Sách", "huyện Ninh Giang", "huyện Thanh Hà",
              "huyện Thanh Miện", "huyện Tứ Kỳ"]:
        assert any(x.endswith(n) for x in names), n
    r = server.get("/api/v1/agencies?parent=000.00.31.H23&per_page=200")
    assert r.json()["total"] >= 8
    assert all(x["level"] == "commune" and x["parent"] == "000.00.31.H23" for x in r.json()["items"])
    r = server.get("/api/v1/agencies?level=province&per_page=200")
    kinds = {x["kind"] for x in r.json()["items"]}
    assert {"people_committee", "department", "service_center"} <= kinds


def test_search_ignores_accents(server):
    r = server.get("/api/v1/agencies", params={"q": "tran hung dao"})
    assert any("Trần Hưng Đạo" in x["name"] for x in r.json()["items"])
    r = server.get("/api/v1/agencies", params={"q": "Sở Tư pháp"})
    assert r.json()["total"] == 1


def test_pagination(server):
    r1 = server.get("/api/v1/agencies?per_page=10&page=1").json()
    r2 = server.get("/api/v1/agencies?per_page=10&page=2").json()
    assert r1["total"] == r2["total"] and r1["total"] > 250
    assert len(r1["items"]) == 10 and r1["page"] == 1 and r2["page"] == 2
    assert not {x["code"] for x in r1["items"]} & {x["code"] for x in r2["items"]}


def test_unknown_level_and_agency(server):
    assert_error(server.get("/api/v1/agencies?level=region"), 422, "invalid", "level")
    assert_error(server.get("/api/v1/agencies/000.99.99.H23"), 404, "not_found")


def test_create_update_audited(server):
    admin = server.admin()
    body = {"code": "000.50.31.H23", "name": "Ủy ban nhân dân phường Thử Nghiệm", "level": "commune",
            "kind": "people_committee", "parent": "000.00.31.H23", "sample": True}
    r = admin.post("/api/v1/agencies", json=body)
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/api/v1/agencies/000.50.31.H23"
    assert r.json()["name"] == body["name"]
    assert_error(admin.post("/api/v1/agencies", json=body), 409, "conflict")
    r = admin.put("/api/v1/agencies/000.50.31.H23", json={"name": "Ủy ban nhân dân phường Đổi Tên"})
    assert r.status_code == 200 and r.json()["name"] == "Ủy ban nhân dân phường Đổi Tên"
    assert r.json()["parent"] == "000.00.31.H23"
    # move under another district
    r = admin.put("/api/v1/agencies/000.50.31.H23", json={"parent": "000.00.32.H23"})
    assert r.status_code == 200 and r.json()["parent"] == "000.00.32.H23"
    audit = admin.get("/api/v1/audit", params={"object": "agency:000.50.31.H23"}).json()
    actions = [x["action"] for x in audit["items"]]
    assert actions == ["agency.update", "agency.update", "agency.create"]
    assert audit["items"][0]["actor"].startswith("user:") and audit["items"][0]["actor"].endswith(":admin")
    assert audit["items"][0]["change"]["after"]["parent"] == "000.00.32.H23"


def test_create_validation(server):
    admin = server.admin()
    r = admin.post("/api/v1/agencies", json={"code": "H23", "name": "", "level": "region", "kind": "x",
                                             "parent": "nope", "color": "red"})
    body = assert_error(r, 422, "invalid")
    fields = body["error"]["details"]["fields"]
    assert {"code", "name", "level", "kind", "parent", "color"} <= set(fields)
    r = admin.post("/api/v1/agencies", json={"code": 5})
    assert_error(r, 422, "invalid", "code")
    # a unit above its parent's level
    r = admin.post("/api/v1/agencies", json={"code": "000.00.77.H23", "name": "X", "level": "province",
                                             "kind": "department", "parent": "000.00.31.H23"})
    assert_error(r, 422, "invalid", "level")
    # parent that does not exist
    r = admin.post("/api/v1/agencies", json={"code": "000.00.78.H23", "name": "X", "level": "district",
                                             "kind": "department", "parent": "000.99.99.H23"})
    assert_error(r, 422, "invalid", "parent")
    # a cycle
    r = admin.put("/api/v1/agencies/000.00.31.H23", json={"parent": "000.01.31.H23"})
    assert_error(r, 422, "invalid", "parent")
    assert_error(admin.put("/api/v1/agencies/000.00.31.H23", json={"code": "000.00.99.H23"}), 422, "invalid",
                 "code")
    assert_error(admin.put("/api/v1/agencies/000.98.98.H23", json={"name": "X"}), 404, "not_found")


def test_only_admins_change_agencies(server):
    body = {"code": "000.51.31.H23", "name": "X", "level": "commune", "kind": "people_committee",
            "parent": "000.00.31.H23"}
    assert_error(server.post("/api/v1/agencies", json=body), 401, "unauthenticated")
    official = server.login("canbo.tphd", "HaiDuong@2021")
    assert_error(official.post("/api/v1/agencies", json=body), 403, "forbidden")
    assert_error(official.put("/api/v1/agencies/000.00.31.H23", json={"name": "X"}), 403, "forbidden")


def test_two_level_configuration(make_server):
    """The 2025 structure (province, commune) works by configuration alone."""
    s = make_server(env={"TINHSO_LEVELS": "province,commune"})
    r = s.get("/api/v1/agencies?level=commune&per_page=200").json()
    assert r["total"] >= 10
    assert all(x["parent"] == "000.00.00.H23" for x in r["items"])
    assert s.get("/api/v1/agencies?level=district").status_code == 422
    admin = s.admin()
    r = admin.post("/api/v1/agencies", json={"code": "000.00.90.H23", "name": "Ủy ban nhân dân xã Mới",
                                             "level": "commune", "kind": "people_committee",
                                             "parent": "000.00.00.H23"})
    assert r.status_code == 201, r.text
    r = admin.post("/api/v1/agencies", json={"code": "000.00.91.H23", "name": "Huyện", "level": "district",
                                             "kind": "people_committee", "parent": "000.00.00.H23"})
    assert_error(r, 422, "invalid", "level")
