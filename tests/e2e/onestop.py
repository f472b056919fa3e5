"""Helpers for the one-stop tests: valid forms from a procedure's definition,
small real files, logins of the demo officials, and walking a dossier along
its workflow."""
import hashlib
import io
import json
import uuid

from conftest import DEMO_PASSWORD

PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")

COMMUNE = "000.08.31.H23"       # phường Trần Hưng Đạo
DISTRICT = "000.00.31.H23"      # thành phố Hải Dương
OTHER_COMMUNE = "000.01.32.H23"  # a ward of Chí Linh
BIRTH = "1.001193"              # đăng ký khai sinh (commune, full online, no fee)
INTER_LEVEL = "1.001776"        # commune -> district -> commune


def sample_value(field, commune=COMMUNE):
    t = field["type"]
    if t == "text":
        return "Nguyễn Thị Bình"
    if t == "number":
        return 1
    if t == "date":
        return "2024-05-01"
    if t == "select":
        return field["options"][0]
    if t == "cccd":
        return "030095001234"
    if t == "tax_code":
        return "0801234567"
    if t == "phone":
        return "0912345678"
    if t == "email":
        return "nguoidan@example.vn"
    if t == "address":
        return {"commune": commune, "detail": "Số 5 phố Trần Hưng Đạo"}
    raise AssertionError("unknown field type " + t)


def procedure(server, code):
    r = server.get("/api/v1/procedures/" + code)
    assert r.status_code == 200, r.text
    return r.json()


def valid_form(proc):
    return {f["name"]: sample_value(f) for f in proc["form_fields"]}


def required_files(proc):
    """One small real file per required document that no national database supplies."""
    files = []
    for i, d in enumerate(proc["documents"]):
        if d["required"] and not d.get("ecopy_source"):
            files.append(("doc%d" % i, ("giay-to-%d.pdf" % i, PDF, "application/pdf")))
    return files


def submit(client, proc, agency=COMMUNE, files=None, form=None, key=None, extra=None):
    body = {"procedure_code": proc["code"], "agency_code": agency, "form": form or valid_form(proc)}
    body.update(extra or {})
    headers = {"Idempotency-Key": key} if key else {}
    files = required_files(proc) if files is None else files
    return client.post("/api/v1/dossiers", data={"data": json.dumps(body)}, files=files, headers=headers)


def act(client, code, action, files=None, **kw):
    body = dict(kw, action=action)
    if files:
        return client.post("/api/v1/dossiers/%s/actions" % code, data={"data": json.dumps(body)}, files=files)
    return client.post("/api/v1/dossiers/%s/actions" % code, json=body)


def official(server, username):
    return server.login(username, DEMO_PASSWORD)


def citizen(server):
    return server.login("030095001234", DEMO_PASSWORD)


def sha256(b):
    return hashlib.sha256(b).hexdigest()
