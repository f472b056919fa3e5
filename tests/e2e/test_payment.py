"""Fees and payment end to end, with the simulated gateway of tinhso-sim:
an official asks for payment, the applicant pays at the gateway (success,
failure then retry), the gateway's signed callback resumes the dossier, a
replayed callback changes nothing, forged ones are refused, and the
e-receipt is issued. tinhso-sim runs on a free loopback port; tinhso reaches
it through TINHSO_SIM_URL and shares its secret (TINHSO_PAYMENT_SECRET)."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest
import requests

from conftest import BIN, Server, assert_error
from onestop import COMMUNE, act, citizen, official, procedure, required_files, valid_form

SIM_BIN = os.environ.get("TINHSO_SIM_BIN", os.path.join(os.path.dirname(BIN), "tinhso-sim"))
SECRET = "e2e-payment-secret"
MARITAL = "1.004873"  # giấy xác nhận tình trạng hôn nhân: commune, full online, fee 3.000 đồng


class Sim:
    def __init__(self, secret):
        self.proc = subprocess.Popen([SIM_BIN, "--listen", "127.0.0.1:0", "--payment-secret", secret],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise AssertionError("tinhso-sim did not start: %r" % line)
        self.base = "http://127.0.0.1:%s" % m.group(1)

    def post(self, path, **kw):
        return requests.post(self.base + path, timeout=30, **kw)

    def get(self, path, **kw):
        return requests.get(self.base + path, timeout=30, **kw)

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
    s = Sim(SECRET)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def server(sim):
    """A demo installation whose payment gateway is the simulated one."""
    tmp = tempfile.mkdtemp(prefix="tinhso-e2e-pay-")
    s = Server(tmp, env={"TINHSO_SIM_URL": sim.base, "TINHSO_PAYMENT_SECRET": SECRET})
    s.cli("init")
    s.cli("demo")
    s.start()
    yield s
    s.close()
    shutil.rmtree(tmp, ignore_errors=True)


def submit(client, proc, agency=COMMUNE):
    body = {"procedure_code": proc["code"], "agency_code": agency, "form": valid_form(proc)}
    return client.post("/api/v1/dossiers", data={"data": json.dumps(body)}, files=required_files(proc))


def waiting_on_payment(server):
    """A new online dossier, received, with a payment requested: (code, citizen, official)."""
    proc = procedure(server, MARITAL)
    cit = citizen(server)
    r = submit(cit, proc)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    off = official(server, "canbo.thd")
    r = act(off, code, "receive")
    assert r.status_code == 200, r.text
    r = act(off, code, "request_payment", note="Nộp lệ phí")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == 6
    return code, cit, off


def payments(client, code):
    r = client.get("/api/v1/dossiers/%s/payments" % code)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def start(client, code):
    r = client.post("/api/v1/dossiers/%s/payments" % code)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["payment"]["status"] == "pending" and body["payment"]["gateway_ref"]
    return body


def test_payment_success(server, sim):
    code, cit, off = waiting_on_payment(server)
    items = payments(cit, code)
    assert len(items) == 1
    p = items[0]
    assert p["status"] == "requested" and p["amount"] == 3000 and p["amount_text"] == "3.000"
    assert payments(off, code)[0]["id"] == p["id"]  # officials in scope see it too

    body = start(cit, code)
    ref = body["payment"]["gateway_ref"]
    assert body["pay_url"] == "%s/gateway/pay/%s" % (sim.base, ref)
    page = requests.get(body["pay_url"], timeout=30)
    assert page.status_code == 200 and "3.000 đồng" in page.text and 'value="success"' in page.text
    # the payer clicks "pay" (a form post, as the browser does)
    done = requests.post(body["pay_url"], data={"outcome": "success"}, timeout=30)
    assert done.status_code == 200 and 'data-outcome="success"' in done.text
    assert "/dossiers/%s" % code in done.text  # the link back to the portal

    p = payments(cit, code)[0]
    assert p["status"] == "paid" and re.fullmatch(r"BL-\d{4}-\d{6}", p["receipt_no"]), p
    assert p["paid_at"] and p["receipt_url"]
    d = cit.get("/api/v1/dossiers/" + code).json()
    assert d["status"] == 2 and d["fee_paid"] == 3000  # back where it was, clock running
    hist = cit.get("/api/v1/dossiers/%s/history" % code).json()["items"]
    assert [h["action"] for h in hist][-1] == "payment_received"
    pdf = cit.get(p["receipt_url"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert off.get(p["receipt_url"]).status_code == 200
    # nothing left to pay
    assert_error(cit.post("/api/v1/dossiers/%s/payments" % code), 409, "invalid_transition")
    # audited as the gateway
    audit = server.admin().get("/api/v1/audit", params={"object": "payment:%d" % p["id"]}).json()["items"]
    acts = {a["action"]: a for a in audit}
    assert "payment.start" in acts and "payment.paid" in acts
    assert acts["payment.paid"]["actor"] == "system:payment-gateway"


def test_payment_failure_then_retry(server, sim):
    code, cit, off = waiting_on_payment(server)
    first = start(cit, code)
    ref1 = first["payment"]["gateway_ref"]
    r = sim.post("/gateway/pay/" + ref1, json={"outcome": "failed"})
    assert r.status_code == 200 and r.json()["callback_status"] == 200, r.text
    assert r.json()["callback_body"]["payment_status"] == "failed"
    p = payments(cit, code)[0]
    assert p["status"] == "failed" and p["receipt_no"] is None
    assert cit.get("/api/v1/dossiers/" + code).json()["status"] == 6  # still waiting
    receipt = "/api/v1/dossiers/%s/payments/%d/receipt.pdf" % (code, p["id"])
    assert_error(cit.get(receipt), 409, "conflict")
    # the failure replayed: nothing new
    r = sim.post("/gateway/replay/" + ref1)
    assert r.json()["callback_status"] == 200 and r.json()["callback_body"]["status"] == "already_processed"
    # a new order for the same request
    second = start(cit, code)
    assert second["payment"]["id"] == p["id"] and second["payment"]["gateway_ref"] != ref1
    r = sim.post("/gateway/pay/" + second["payment"]["gateway_ref"], json={"outcome": "success"})
    assert r.json()["callback_status"] == 200 and r.json()["callback_body"]["status"] == "processed"
    assert payments(cit, code)[0]["status"] == "paid"
    assert cit.get("/api/v1/dossiers/" + code).json()["status"] == 2


def test_replayed_callback_changes_nothing(server, sim):
    code, cit, off = waiting_on_payment(server)
    ref = start(cit, code)["payment"]["gateway_ref"]
    r = sim.post("/gateway/pay/" + ref, json={"outcome": "success"})
    assert r.json()["callback_status"] == 200
    before = payments(cit, code)[0]
    dossier = cit.get("/api/v1/dossiers/" + code).json()
    hist = cit.get("/api/v1/dossiers/%s/history" % code).json()["items"]
    admin = server.admin()
    audit = admin.get("/api/v1/audit", params={"object": "payment:%d" % before["id"]}).json()["total"]
    for _ in range(3):
        r = sim.post("/gateway/replay/" + ref)
        assert r.status_code == 200 and r.json()["callback_status"] == 200, r.text
        assert r.json()["callback_body"]["status"] == "already_processed"
    assert payments(cit, code)[0] == before
    after = cit.get("/api/v1/dossiers/" + code).json()
    assert after["fee_paid"] == dossier["fee_paid"] == 3000 and after["version"] == dossier["version"]
    assert len(cit.get("/api/v1/dossiers/%s/history" % code).json()["items"]) == len(hist)
    assert admin.get("/api/v1/audit", params={"object": "payment:%d" % before["id"]}).json()["total"] == audit
    # a failure after the success is refused
    r = sim.post("/gateway/pay/" + ref, json={"outcome": "failed"})
    assert r.status_code == 409  # the gateway itself refuses: the order is finished


def test_forged_callbacks_refused(server, sim):
    code, cit, off = waiting_on_payment(server)
    ref = start(cit, code)["payment"]["gateway_ref"]
    before = payments(cit, code)[0]
    for mode, status in [("bad_signature", 401), ("no_signature", 401), ("tampered_amount", 401),
                         ("wrong_amount", 422)]:
        r = sim.post("/gateway/forge/" + ref, json={"mode": mode, "amount": 1000})
        assert r.status_code == 200 and r.json()["callback_status"] == status, (mode, r.text)
        if status == 422:
            assert "amount" in r.json()["callback_body"]["error"]["details"]["fields"]
    assert payments(cit, code)[0] == before
    assert cit.get("/api/v1/dossiers/" + code).json()["status"] == 6
    rejected = server.admin().get("/api/v1/audit", params={"action": "payment.callback_rejected"}).json()
    reasons = [a["change"]["reason"] if isinstance(a["change"], dict) else a["change"] for a in rejected["items"]]
    assert any("bad signature" in str(x) for x in reasons) and any("missing signature" in str(x) for x in reasons)
    assert SECRET not in str(rejected)
    # a callback straight to the portal without any signature
    r = requests.post(server.url("/api/v1/payments/callback"),
                      json={"gateway_ref": ref, "order_id": "1-x", "amount": 3000, "status": "success",
                            "paid_at": "2025-03-14T09:30:00+07:00"}, timeout=30)
    assert_error(r, 401, "unauthenticated")
    r = requests.post(server.url("/api/v1/payments/callback"),
                      json={"gateway_ref": "SIMNOSUCH", "order_id": "1-x", "amount": 3000, "status": "success",
                            "paid_at": "2025-03-14T09:30:00+07:00", "signature": "00" * 64}, timeout=30)
    assert_error(r, 401, "unauthenticated")
    assert payments(cit, code)[0] == before


def test_who_may_pay(server, sim):
    code, cit, off = waiting_on_payment(server)
    # the official sees the request but does not pay online
    assert_error(off.post("/api/v1/dossiers/%s/payments" % code), 403, "forbidden")
    server.post("/api/v1/citizens", json={"id_number": "030199008888", "full_name": "Lê Thị Cúc",
                                          "phone": "0977123457", "password": "Test-Passw0rd!"})
    other = server.login("030199008888")
    assert_error(other.post("/api/v1/dossiers/%s/payments" % code), 404, "not_found")
    assert_error(other.get("/api/v1/dossiers/%s/payments" % code), 404, "not_found")
    assert_error(requests.post(server.url("/api/v1/dossiers/%s/payments" % code), timeout=30), 401,
                 "unauthenticated")
    # a dossier that does not wait on a payment
    proc = procedure(server, MARITAL)
    fresh = submit(cit, proc).json()["code"]
    assert_error(cit.post("/api/v1/dossiers/%s/payments" % fresh), 409, "invalid_transition")
    # while an order is open, a second start is refused
    start(cit, code)
    assert_error(cit.post("/api/v1/dossiers/%s/payments" % code), 409, "invalid_transition")
