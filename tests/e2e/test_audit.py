"""The time parameters of the lists (`from`, `to`): an RFC 3339 time or a date
YYYY-MM-DD in +07:00, `to` inclusive to the end of its day; a malformed one is
a 422 naming it, the same on every route that takes them (audit trail, rating
summary)."""
import datetime

from conftest import assert_error
from onestop import official


def day(s, delta=0):
    return (datetime.date.fromisoformat(s) + datetime.timedelta(days=delta)).isoformat()


def test_audit_periods(server):
    admin = server.admin()
    newest = admin.get("/api/v1/audit", params={"per_page": 1}).json()["items"][0]
    at, obj = newest["at"], newest["object"]
    assert at.endswith("+07:00")
    d = at[:10]  # its date in Vietnam

    def seqs(**params):
        r = admin.get("/api/v1/audit", params=dict(object=obj, per_page=200, **params))
        assert r.status_code == 200, r.text
        return [e["seq"] for e in r.json()["items"]]

    everything = seqs()
    assert newest["seq"] in everything
    assert newest["seq"] in seqs(**{"from": d, "to": d})  # the whole day, both ends
    assert newest["seq"] in seqs(to=d)
    assert newest["seq"] not in seqs(to=day(d, -1))
    assert seqs(**{"from": day(d, 1)}) == []
    assert newest["seq"] in seqs(**{"from": at, "to": at})  # times are inclusive too
    later = (datetime.datetime.fromisoformat(at) + datetime.timedelta(seconds=1)).isoformat()
    assert newest["seq"] not in seqs(**{"from": later})
    assert seqs(**{"from": "2000-01-01T00:00:00Z", "to": "2999-12-31"}) == everything


def test_malformed_times_are_named(server):
    admin = server.admin()
    leader = official(server, "lanhdao.thd")
    for path, client in [("/api/v1/audit", admin), ("/api/v1/ratings/summary", leader)]:
        for name in ["from", "to"]:
            for bad in ["2025-13-01", "yesterday", "2025-03-14T25:00:00+07:00", ""]:
                assert_error(client.get(path, params={name: bad}), 422, "invalid", name)
        assert client.get(path, params={"from": "2025-03-14", "to": "2025-03-14T23:59:59+07:00"}).status_code == 200


def test_audit_filter_combinations(server):
    """Every combination of the filters (each gives the query another WHERE
    clause, so that the indexes serve it) returns exactly the entries that
    match, newest first, with the right total."""
    import itertools
    admin = server.admin()
    for i in range(3):  # a few entries of another action and object
        admin.post("/api/v1/agencies", json={"code": "000.%02d.77.H23" % (90 + i), "name": "Đơn vị lọc %d" % i,
                                             "level": "commune", "kind": "unit", "parent": "000.00.31.H23"})
    everything = []
    page = 1
    while True:
        r = admin.get("/api/v1/audit", params={"per_page": 200, "page": page})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        everything += items
        if len(items) < 200:
            break
        page += 1
    assert [e["seq"] for e in everything] == sorted((e["seq"] for e in everything), reverse=True)
    newest = everything[0]
    middle = everything[len(everything) // 2]
    values = {
        "actor": newest["actor"], "object": newest["object"], "action": newest["action"],
        "from": middle["at"], "to": newest["at"],
    }
    for n in range(len(values) + 1):
        for keys in itertools.combinations(values, n):
            params = {k: values[k] for k in keys}
            want = [e["seq"] for e in everything
                    if all(e[k] == params[k] for k in ("actor", "object", "action") if k in params)
                    and ("from" not in params or e["at"] >= params["from"])
                    and ("to" not in params or e["at"] <= params["to"])]
            r = admin.get("/api/v1/audit", params=dict(params, per_page=200))
            assert r.status_code == 200, (params, r.text)
            got = [e["seq"] for e in r.json()["items"]]
            assert got == want[:200], params
            assert r.json()["total"] == len(want), params
