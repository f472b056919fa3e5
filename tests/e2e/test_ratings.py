"""Satisfaction ratings (Circular 01/2018/TT-VPCP): the public criteria, the
applicant's rating after the result (and nobody else's, nor before, nor
twice), reading it back, the audit entry, and the summaries per agency and per
official with their scope rules."""
import threading

import pytest

from conftest import assert_error
from onestop import BIRTH, COMMUNE, OTHER_COMMUNE, PDF, act, citizen, official, procedure, submit

KEYS = ["total_time", "agency_time", "contact_count", "agency_count", "one_stop", "publicity", "staff_attitude",
        "feedback_handling", "online_service"]


def scores(*values):
    values = values or (2,) * 9
    return dict(zip(KEYS, values))


def to_result(server, cit, returned=True):
    """Submits a birth registration and takes it along its workflow to status 9 (issued) or 10 (returned)."""
    proc = procedure(server, BIRTH)
    r = submit(cit, proc)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    off = official(server, "canbo.thd")
    lead = official(server, "lanhdao.thd")
    for who, action, kw in [(off, "receive", {}), (off, "forward", {}), (lead, "approve", {}),
                            (off, "issue_result",
                             {"files": [("result", ("giay-khai-sinh.pdf", PDF, "application/pdf"))]})]:
        r = act(who, code, action, **kw)
        assert r.status_code == 200, r.text
    if returned:
        r = act(off, code, "return_result")
        assert r.status_code == 200, r.text
    assert r.json()["status"] == (10 if returned else 9)
    return code


def rate(client, code, body):
    return client.post("/api/v1/dossiers/%s/rating" % code, json=body)


def test_criteria_are_public(server):
    r = server.get("/api/v1/ratings/criteria")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c["key"] for c in body["criteria"]] == KEYS
    assert [c["number"] for c in body["criteria"]] == list(range(1, 10))
    assert all(c["min"] == 0 and c["max"] == 2 and c["vi"] and c["en"] for c in body["criteria"])
    assert body["criteria"][0]["vi"] == "Tổng thời gian giải quyết thủ tục hành chính so với quy định của pháp luật"
    assert body["criteria"][6]["vi"].startswith("Thái độ của cán bộ, công chức, viên chức")
    assert [(l["key"], l["vi"]) for l in body["levels"]] == [
        ("very_satisfied", "Rất hài lòng"), ("satisfied", "Hài lòng"), ("not_satisfied", "Không hài lòng")]
    assert body["max_total"] == 18


def test_applicant_rates_after_the_result(server):
    cit = citizen(server)
    code = to_result(server, cit)
    off = official(server, "canbo.thd")
    # nothing yet
    assert_error(cit.get("/api/v1/dossiers/%s/rating" % code), 404, "not_found")
    # only the applicant: an official who sees the dossier is forbidden, nothing recorded
    assert_error(rate(off, code, {"scores": scores(), "overall": "very_satisfied"}), 403, "forbidden")
    body = {"scores": scores(2, 2, 1, 2, 2, 2, 2, 1, 2), "overall": "satisfied", "comment": "Cán bộ nhiệt tình.\nCảm ơn!"}
    r = rate(cit, code, body)
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/api/v1/dossiers/%s/rating" % code
    got = r.json()
    assert got["dossier_code"] == code and got["procedure_code"] == BIRTH
    assert got["scores"] == body["scores"] and got["total"] == 16 and got["max_total"] == 18
    assert got["overall"] == "satisfied" and got["overall_vi"] == "Hài lòng"
    assert got["comment"] == body["comment"] and got["created_at"].endswith("+07:00")
    assert got["agency_code"] == COMMUNE
    # attributed to the official who returned the result
    me = off.get("/api/v1/auth/me").json()
    me = me.get("user", me)
    assert got["official"] == {"user_id": me["id"], "name": "Đỗ Thị Hằng"}
    # read back by the applicant and by the officials in scope
    assert cit.get("/api/v1/dossiers/%s/rating" % code).json() == got
    assert off.get("/api/v1/dossiers/%s/rating" % code).json() == got
    assert official(server, "canbo.tphd").get("/api/v1/dossiers/%s/rating" % code).json() == got
    # once only
    assert_error(rate(cit, code, {"scores": scores(), "overall": "very_satisfied"}), 409, "invalid_transition")
    assert cit.get("/api/v1/dossiers/%s/rating" % code).json()["overall"] == "satisfied"
    # audited
    audit = server.admin().get("/api/v1/audit", params={"object": "dossier:" + code, "action": "rating.create"})
    items = audit.json()["items"]
    assert len(items) == 1 and items[0]["change"]["total"] == 16 and items[0]["change"]["overall"] == "satisfied"
    assert items[0]["actor"].endswith(":030095001234")


def test_rating_at_status_9_names_the_issuer(server):
    cit = citizen(server)
    code = to_result(server, cit, returned=False)
    r = rate(cit, code, {"scores": scores(1, 1, 1, 1, 1, 1, 1, 1, 1), "overall": "not_satisfied"})
    assert r.status_code == 201, r.text
    assert r.json()["total"] == 9 and r.json()["comment"] is None
    assert r.json()["official"]["name"] == "Đỗ Thị Hằng"
    # the result can still be returned afterwards
    assert act(official(server, "canbo.thd"), code, "return_result").status_code == 200


def test_not_before_the_result(server):
    cit = citizen(server)
    proc = procedure(server, BIRTH)
    code = submit(cit, proc).json()["code"]
    body = {"scores": scores(), "overall": "very_satisfied"}
    assert_error(rate(cit, code, body), 409, "invalid_transition")
    act(official(server, "canbo.thd"), code, "receive")
    assert_error(rate(cit, code, body), 409, "invalid_transition")
    assert_error(cit.get("/api/v1/dossiers/%s/rating" % code), 404, "not_found")


def test_outsiders_get_404(server):
    cit = citizen(server)
    code = to_result(server, cit)
    server.add_user("canbo.r9", "official", agency=OTHER_COMMUNE)
    other = server.login("canbo.r9")
    server.post("/api/v1/citizens", json={"id_number": "030199006666", "full_name": "Phạm Thị Dung",
                                          "phone": "0977654321", "password": "Test-Passw0rd!"})
    other_cit = server.login("030199006666")
    body = {"scores": scores(), "overall": "very_satisfied"}
    for who in (other, other_cit):
        assert_error(rate(who, code, body), 404, "not_found")
        assert_error(who.get("/api/v1/dossiers/%s/rating" % code), 404, "not_found")
    assert_error(rate(cit, "000.08.31.H23-991231-9999", body), 404, "not_found")
    # without a session
    assert_error(server.post("/api/v1/dossiers/%s/rating" % code, json=body), 401, "unauthenticated")
    # the applicant can still rate: the refusals changed nothing
    assert rate(cit, code, body).status_code == 201


@pytest.mark.parametrize("body,fields", [
    ({"overall": "satisfied"}, ["scores"]),
    ({"scores": scores(), "overall": "happy"}, ["overall"]),
    ({"scores": scores()}, ["overall"]),
    ({"scores": dict(scores(), total_time=3, publicity=-1), "overall": "satisfied"},
     ["scores.total_time", "scores.publicity"]),
    ({"scores": dict(scores(), one_stop="2", staff_attitude=1.5), "overall": "satisfied"},
     ["scores.one_stop", "scores.staff_attitude"]),
    ({"scores": {k: 2 for k in KEYS[:7]}, "overall": "satisfied"},
     ["scores.feedback_handling", "scores.online_service"]),
    ({"scores": dict(scores(), speed=2), "overall": "satisfied"}, ["scores.speed"]),
    ({"scores": scores(), "overall": "satisfied", "comment": "x" * 2001}, ["comment"]),
    ({"scores": scores(), "overall": "satisfied", "stars": 5}, ["stars"]),
    ({"scores": [2] * 9, "overall": 1}, ["scores", "overall"]),
])
def test_bad_bodies_name_each_field(server, body, fields):
    cit = citizen(server)
    # any dossier of the citizen: the body is checked first, nothing is written
    code = submit(cit, procedure(server, BIRTH)).json()["code"]
    r = rate(cit, code, body)
    err = assert_error(r, 422, "invalid")
    assert sorted(err["error"]["details"]["fields"]) == sorted(fields), err


def test_two_rates_at_once_one_wins(server):
    cit = citizen(server)
    code = to_result(server, cit)
    results = []

    def go(level):
        results.append(rate(cit, code, {"scores": scores(), "overall": level}))

    threads = [threading.Thread(target=go, args=(lvl,)) for lvl in ("very_satisfied", "satisfied", "not_satisfied")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [201, 409, 409], [r.text for r in results]
    winner = next(r for r in results if r.status_code == 201).json()
    assert cit.get("/api/v1/dossiers/%s/rating" % code).json()["overall"] == winner["overall"]
    audit = server.admin().get("/api/v1/audit", params={"object": "dossier:" + code, "action": "rating.create"})
    assert audit.json()["total"] == 1


def test_summary_per_agency_and_official(make_server):
    s = make_server()
    cit = citizen(s)
    codes = [to_result(s, cit) for _ in range(3)] + [to_result(s, cit, returned=False)]
    bodies = [
        {"scores": scores(), "overall": "very_satisfied"},                              # 18
        {"scores": scores(2, 2, 2, 2, 2, 2, 1, 1, 2), "overall": "satisfied"},          # 16
        {"scores": scores(0, 1, 0, 1, 0, 1, 0, 1, 0), "overall": "not_satisfied"},      # 4
    ]
    for code, body in zip(codes, bodies):
        assert rate(cit, code, body).status_code == 201
    # the fourth stays unrated

    off = official(s, "canbo.thd")
    r = off.get("/api/v1/ratings/summary")
    assert r.status_code == 200, r.text
    summ = r.json()
    assert summ["agency"] == COMMUNE and summ["from"] is None and summ["to"] is None
    a = summ["all"]
    assert a["count"] == 3
    assert a["levels"] == {"very_satisfied": 1, "satisfied": 1, "not_satisfied": 1}
    assert a["satisfied_share"] == pytest.approx(2 / 3, abs=1e-4)
    assert a["total_average"] == pytest.approx((18 + 16 + 4) / 3, abs=0.01)
    assert a["averages"]["total_time"] == pytest.approx(4 / 3, abs=0.01)
    assert a["averages"]["staff_attitude"] == pytest.approx(1.0, abs=0.01)
    assert a["averages"]["feedback_handling"] == pytest.approx(4 / 3, abs=0.01)
    assert [g["code"] for g in summ["agencies"]] == [COMMUNE]
    assert summ["agencies"][0]["count"] == 3 and summ["agencies"][0]["name"]
    assert len(summ["officials"]) == 1
    o = summ["officials"][0]
    assert o["name"] == "Đỗ Thị Hằng" and o["agency_code"] == COMMUNE and o["count"] == 3 and o["title"]

    # the district above sees the ward; the province-wide view of the admin too
    dist = official(s, "canbo.tphd").get("/api/v1/ratings/summary", params={"agency": COMMUNE}).json()
    assert dist["all"]["count"] == 3
    assert official(s, "canbo.tphd").get("/api/v1/ratings/summary").json()["all"]["count"] == 3
    adm = s.admin().get("/api/v1/ratings/summary").json()
    assert adm["agency"] is None and adm["all"]["count"] == 3
    # a leader of the ward
    assert official(s, "lanhdao.thd").get("/api/v1/ratings/summary").json()["all"]["count"] == 3

    # periods
    assert off.get("/api/v1/ratings/summary", params={"to": "2020-12-31"}).json()["all"] == {
        "count": 0, "averages": {k: None for k in KEYS}, "total_average": None,
        "levels": {"very_satisfied": 0, "satisfied": 0, "not_satisfied": 0}, "satisfied_share": None}
    assert off.get("/api/v1/ratings/summary", params={"from": "2020-01-01", "to": "2099-12-31"}).json()["all"][
        "count"] == 3
    assert_error(off.get("/api/v1/ratings/summary", params={"from": "2025-13-01"}), 422, "invalid", "from")
    assert_error(off.get("/api/v1/ratings/summary", params={"from": "2025-02-01", "to": "2025-01-01"}), 422,
                 "invalid", "to")

    # scope: another agency's official, citizens, anonymous callers, unknown agencies
    assert_error(official(s, "canbo.tuphap").get("/api/v1/ratings/summary", params={"agency": COMMUNE}), 403,
                 "forbidden")
    other = official(s, "canbo.tuphap").get("/api/v1/ratings/summary").json()
    assert other["all"]["count"] == 0 and other["agencies"] == [] and other["officials"] == []
    assert_error(cit.get("/api/v1/ratings/summary"), 403, "forbidden")
    assert_error(s.get("/api/v1/ratings/summary"), 401, "unauthenticated")
    assert_error(s.admin().get("/api/v1/ratings/summary", params={"agency": "000.99.99.H99"}), 422, "invalid",
                 "agency")
