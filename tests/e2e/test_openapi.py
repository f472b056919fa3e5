"""docs/openapi.yaml describes every JSON route of the server and nothing else:
each route of the C route tables (src/**/*_api.c, src/app/ops_api.c) has its
path and method in the spec, and each operation of the spec is a route. Paths
are compared by shape ({code} and {id} are both a parameter segment; a
trailing {rest*} matches a {rest} parameter). A new endpoint without
documentation fails here; scripts/lint-openapi checks the rest of the spec."""
import glob
import os
import re

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SPEC = os.path.join(ROOT, "docs", "openapi.yaml")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ROUTE = re.compile(r'\{\s*"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)"\s*,\s*"(/[^"]*)"')


def shape(path):
    return re.sub(r"\{[^}/]+\}", "{}", path)


def route_files():
    files = set(glob.glob(os.path.join(ROOT, "src", "**", "*_api.c"), recursive=True))
    files.add(os.path.join(ROOT, "src", "app", "ops_api.c"))
    # tinhso-sim's routes are another program's
    return sorted(f for f in files if os.sep + "sim" + os.sep not in f)


def code_routes():
    """(method, shape) -> ["METHOD /path (file)"] of every route of the *_api.c tables, and of every
    /api/v1 route wherever it is (a JSON route in a page module still needs documenting)."""
    routes = {}
    api_files = set(route_files())
    for f in sorted(glob.glob(os.path.join(ROOT, "src", "**", "*.c"), recursive=True)):
        if os.sep + "sim" + os.sep in f:
            continue
        text = open(f, encoding="utf-8").read()
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)  # commented-out routes do not count
        for method, path in ROUTE.findall(text):
            if f not in api_files and not path.startswith("/api/"):
                continue  # HTML pages and static files
            routes.setdefault((method, shape(path)), []).append("%s %s (%s)" % (method, path,
                                                                                 os.path.relpath(f, ROOT)))
    return routes


def spec():
    with open(SPEC, encoding="utf-8") as f:
        return yaml.safe_load(f)


def spec_routes(doc):
    routes = {}
    for path, item in doc["paths"].items():
        for method in item:
            if method.upper() in METHODS + ("HEAD", "OPTIONS"):
                routes.setdefault((method.upper(), shape(path)), []).append("%s %s" % (method.upper(), path))
    return routes


def test_route_tables_are_found():
    routes = code_routes()
    # the regex must keep finding the tables (one per module, several routes per line in some)
    assert len(routes) >= 60, sorted(routes)
    for must in [("GET", "/livez"), ("GET", "/readyz"), ("GET", "/metrics"), ("POST", "/api/v1/dossiers"),
                 ("POST", "/api/v1/dossiers/{}/rating"), ("GET", "/api/v1/procedures/fields"),
                 ("PUT", "/api/v1/procedures/{}")]:
        assert must in routes, must


def test_every_route_is_documented():
    documented = spec_routes(spec())
    missing = sorted(v for k, vs in code_routes().items() if k not in documented for v in vs)
    assert not missing, "routes without an operation in docs/openapi.yaml:\n  " + "\n  ".join(missing)


def test_every_operation_is_a_route():
    routes = code_routes()
    extra = sorted(v for k, vs in spec_routes(spec()).items() if k not in routes for v in vs)
    assert not extra, "operations in docs/openapi.yaml that no route table has:\n  " + "\n  ".join(extra)


def test_operations_are_complete():
    doc = spec()
    assert doc["openapi"].startswith("3.1")
    ids = set()
    for path, item in doc["paths"].items():
        declared = set(re.findall(r"\{([^}]+)\}", path))
        common = {p.get("name") for p in item.get("parameters", []) if "name" in p}
        common |= {p["$ref"].rsplit("/", 1)[1] for p in item.get("parameters", []) if "$ref" in p}
        for method, op in item.items():
            if method.upper() not in METHODS:
                continue
            where = "%s %s" % (method.upper(), path)
            assert op.get("operationId") and op["operationId"] not in ids, where
            ids.add(op["operationId"])
            assert op.get("summary") and op.get("tags"), where
            assert "security" in op, where + ": say who may call it (security: [] when public)"
            codes = [str(c) for c in op["responses"]]
            assert any(c.startswith("2") for c in codes), where
            assert any(c.startswith("4") for c in codes) or "default" in codes, where
            if declared:
                # path parameters are declared on the path item or the operation
                names = common | {p.get("name") for p in op.get("parameters", []) if "name" in p}
                names |= {p["$ref"].rsplit("/", 1)[1] for p in op.get("parameters", []) if "$ref" in p}
                assert names, where + ": path parameters are not declared"


def test_error_shape_matches_design():
    err = spec()["components"]["schemas"]["Error"]
    assert set(err["required"]) == {"error", "request_id"}
    codes = set(err["properties"]["error"]["properties"]["code"]["enum"])
    # DESIGN.md §4 and src/base/err.c
    table = open(os.path.join(ROOT, "src", "base", "err.c"), encoding="utf-8").read()
    names = set(re.findall(r'\{ERR_[A-Z_]+, \d+, "([a-z_]+)"', table)) - {"ok", "config", "usage"}
    assert codes == names
