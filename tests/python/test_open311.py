"""A stock Open311 client against a running Yizhan node.

The `georeport` package (PyPI) lists services and requests as any civic
app would; it has no call for submitting, so the request is posted with
plain `requests` as the GeoReport v2 spec describes (a form with api_key,
service_code, lat, long, description and the photo as `media`).

The test starts its own community node on loopback with plain HTTP
(`[http] plain = true`: no certificate to trust for a client on the same
machine) and stops it at the end. It finds the `yizhan` binary at
$YIZHAN_BIN, else $CARGO_TARGET_DIR/debug/yizhan, else target/debug/yizhan:
build it first (`cargo build -p yizhan`).
"""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from georeport import GeoReport

ROOT = Path(__file__).resolve().parents[2]
PLACE = "guandu/yiliu/xinyazhou"


def binary() -> Path:
    if os.environ.get("YIZHAN_BIN"):
        path = Path(os.environ["YIZHAN_BIN"])
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        path = target / "debug" / "yizhan"
    assert path.is_file(), f"no yizhan binary at {path}: run `cargo build -p yizhan` first"
    return path


def yizhan(data: Path, *args: str) -> str:
    out = subprocess.run(
        [str(binary()), "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, f"yizhan {args} failed: {out.stderr}"
    return out.stdout


@pytest.fixture
def node(tmp_path):
    """A community node serving plain HTTP on loopback, and a rider's code."""
    data = tmp_path / "community"
    yizhan(data, "init", "--role", "community", "--place", PLACE)
    member = json.loads(
        yizhan(
            data, "--json", "roster", "add",
            "--display-name", "骑手小李", "--name", "李四", "--phone", "13800000007",
        )
    )["id"]
    yizhan(data, "roster", "approve", member)
    code = json.loads(
        yizhan(data, "--json", "roster", "code", member, "--url", "http://127.0.0.1")
    )["code"]
    with open(data / "config.toml", "a", encoding="utf-8") as f:
        f.write('\n[http]\nlisten = "127.0.0.1:0"\nplain = true\n')
    out = tmp_path / "node.out"
    proc = subprocess.Popen(
        [str(binary()), "--data-dir", str(data), "node", "start",
         "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"],
        stdout=open(out, "w"),
        stderr=subprocess.DEVNULL,
    )
    try:
        base = None
        deadline = time.monotonic() + 30
        while base is None:
            assert proc.poll() is None, "the node exited"
            assert time.monotonic() < deadline, "the node never served HTTP"
            m = re.search(r"serving (http://\S+/open311/v2)/", out.read_text())
            if m:
                base = m.group(1)
            else:
                time.sleep(0.1)
        yield {"base": base, "code": code, "member": member, "data": data}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def photo() -> bytes:
    return b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40


def test_a_stock_client_lists_services_and_follows_a_submitted_request(node):
    client = GeoReport(node["base"], jurisdiction=PLACE)

    services = client.get_service_list()
    assert len(services) == 12
    names = {s["service_code"]: s["service_name"] for s in services}
    assert names["manhole_cover"] == "井盖问题"
    assert client.get_service_definition("electrical_fire")["attributes"] == []

    # Submitting: a form as the spec describes, with the photo as `media`.
    answer = requests.post(
        f"{node['base']}/requests.json",
        data={
            "api_key": node["code"],
            "jurisdiction_id": PLACE,
            "service_code": "electrical_fire",
            "lat": "24.9712",
            "long": "102.7401",
            "description": "电箱冒烟",
        },
        files={"media": ("box.jpg", photo(), "image/jpeg")},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    request_id = answer.json()[0]["service_request_id"]

    listed = client.get_service_requests(status="open", service_code="electrical_fire")
    assert [r["service_request_id"] for r in listed] == [request_id]
    one = client.get_service_request(request_id)
    assert one["status"] == "open"
    assert one["description"] == "电箱冒烟"
    assert one["agency_responsible"] == PLACE
    assert client.get_service_requests(status="closed") == []

    # The operator sees it as the rider's report.
    reports = json.loads(yizhan(node["data"], "--json", "report", "list"))
    assert [r["id"] for r in reports] == [request_id]
    assert reports[0]["reporter"] == node["member"]


def test_a_post_without_a_code_gets_the_spec_error_and_files_nothing(node):
    answer = requests.post(
        f"{node['base']}/requests.json",
        data={"service_code": "traffic", "lat": "24.97", "long": "102.74"},
        timeout=30,
    )
    assert answer.status_code == 403
    errors = answer.json()
    assert errors[0]["code"] == 403 and "api_key" in errors[0]["description"]
    with pytest.raises(requests.HTTPError):
        GeoReport(node["base"], jurisdiction="guandu/other").get_service_list()
    assert json.loads(yizhan(node["data"], "--json", "report", "list")) == []
