"""A stock Open311 client against a running Yizhan node.

The `georeport` package (PyPI) lists services and requests as any civic
app would; it has no call for submitting, so the request is posted with
plain `requests` as the GeoReport v2 spec describes (a form with api_key,
service_code, lat, long, description and the photo as `media`).

The test starts its own community node on loopback with plain HTTP
(`[http] plain = true`: no certificate to trust for a client on the same
machine) and stops it at the end (conftest.py says where the binary is
found).
"""

import json

import pytest
import requests
from georeport import GeoReport

from conftest import PLACE, community_with_rider, serving, yizhan


@pytest.fixture
def node(tmp_path):
    """A community node serving plain HTTP on loopback, and a rider's code."""
    rider = community_with_rider(tmp_path / "community")
    with serving(rider["data"], tmp_path / "node.out") as root:
        yield dict(rider, base=f"{root}/open311/v2")


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
