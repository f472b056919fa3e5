"""The simulated SMS gateway of tinhso-sim (src/sim/sim_sms.c), end to end:
the real binary on a free loopback port, spoken to over HTTP as the notify
workers speak to it."""
import os
import re
import socket
import subprocess

import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SIM = os.environ.get("TINHSO_SIM_BIN", os.path.join(ROOT, "build", "tinhso-sim"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sim():
    if not os.path.exists(SIM):
        pytest.skip("tinhso-sim is not built at %s" % SIM)
    port = free_port()
    proc = subprocess.Popen([SIM, "--listen", "127.0.0.1:%d" % port], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert re.match(r"tinhso-sim: serving http://127\.0\.0\.1:\d+", line), line
    yield "http://127.0.0.1:%d" % port
    proc.terminate()
    assert proc.wait(timeout=10) == 0


def messages(sim, to):
    r = requests.get(sim + "/sms/messages", params={"to": to}, timeout=5)
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == len(body["items"])
    return body["items"]


def test_send_and_dedupe(sim):
    msg = {"to": "+84912345001", "text": "Hồ sơ 000.00.30.H23-250314-0007 đã được tiếp nhận.", "id": "e2e-1:sms"}
    r = requests.post(sim + "/sms/send", json=msg, timeout=5)
    assert r.status_code == 202
    mid = r.json()["message_id"]
    assert r.json()["to"] == "0912345001"
    again = requests.post(sim + "/sms/send", json=msg, timeout=5)
    assert again.status_code == 200
    assert again.json()["message_id"] == mid
    items = messages(sim, "0912345001")
    assert len(items) == 1
    assert items[0]["text"] == msg["text"]
    assert items[0]["id"] == "e2e-1:sms"
    assert items[0]["at"].endswith("+07:00")
    # the same number in another form finds the same messages
    assert len(messages(sim, "84912345001")) == 1


def test_validation(sim):
    r = requests.post(sim + "/sms/send", json={"to": "024123456", "text": ""}, timeout=5)
    assert r.status_code == 422
    fields = r.json()["error"]["details"]["fields"]
    assert "to" in fields and "text" in fields
    r = requests.post(sim + "/sms/send", json={"to": "0912345002", "text": "ệ" * 1001}, timeout=5)
    assert r.status_code == 422
    r = requests.post(sim + "/sms/send", json={"to": "0912345002", "text": "ệ" * 1000}, timeout=5)
    assert r.status_code == 202
    r = requests.post(sim + "/sms/send", data="not json", headers={"Content-Type": "application/json"}, timeout=5)
    assert r.status_code == 400


def test_failure_switch(sim):
    assert requests.post(sim + "/sms/fail", json={"count": 2}, timeout=5).status_code == 200
    msg = {"to": "0912345003", "text": "thử lại", "id": "e2e-3:sms"}
    for _ in range(2):
        r = requests.post(sim + "/sms/send", json=msg, timeout=5)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "unavailable"
    assert messages(sim, "0912345003") == []
    assert requests.post(sim + "/sms/send", json=msg, timeout=5).status_code == 202
    assert len(messages(sim, "0912345003")) == 1
    assert requests.post(sim + "/sms/fail", json={"count": -1}, timeout=5).status_code == 422


def test_server_notifies_through_the_sim(sim, make_server):
    """A dossier received by the demo server: its notifications reach the file
    sink and the simulated SMS gateway, once each, and survive a restart."""
    import json
    import time

    from onestop import BIRTH, act, citizen, official, procedure, submit

    server = make_server(env={"TINHSO_SIM_URL": sim})
    proc = procedure(server, BIRTH)
    r = submit(citizen(server), proc)
    assert r.status_code == 201, r.text
    d = r.json()
    code = d["code"]
    r = act(official(server, "canbo.thd"), code, "receive", note="Hồ sơ đầy đủ")
    assert r.status_code == 200, r.text
    sink = os.path.join(server.data, "notifications.jsonl")

    def lines():
        if not os.path.exists(sink):
            return []
        with open(sink, encoding="utf-8") as f:
            return [json.loads(l) for l in f if l.strip()]

    def mine():
        return [l for l in lines() if l["dossier"] == code]

    deadline = time.time() + 15
    while time.time() < deadline and {l["event"] for l in mine()} != {"submitted", "received"}:
        time.sleep(0.1)
    got = mine()
    assert sorted(l["event"] for l in got) == ["received", "submitted"], got
    rec = [l for l in got if l["event"] == "received"][0]
    assert rec["text"].startswith("Kính gửi Ông/Bà")
    assert "đã được tiếp nhận tại" in rec["text"] and code in rec["subject"]
    phone = d["applicant"]["phone"]  # the demo citizen's
    assert phone
    while time.time() < deadline and len([m for m in messages(sim, phone) if code in m["text"]]) < 2:
        time.sleep(0.1)
    sms = [m for m in messages(sim, phone) if code in m["text"]]
    assert len(sms) == 2, sms
    assert any("Hẹn trả kết quả:" in m["text"] for m in sms)
    # the gateway got each row's dedupe key as its id
    assert sorted(m["id"].split(":")[1] for m in sms) == ["received", "submitted"]
    assert all(m["id"].startswith(code + ":") and m["id"].endswith(":sms") for m in sms)
    # a restart delivers nothing twice
    server.stop()
    server.start()
    time.sleep(1.5)
    assert len(mine()) == 2
