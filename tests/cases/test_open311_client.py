"""A real Open311 client (PyPI ``georeport``) against a running server, in both of its formats.

georeport reads (services, definitions, requests) but cannot create requests, so the POST goes out as
the plain form-encoded request any app sends, with ``requests`` (georeport's own HTTP library).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from georeport import GeoReport

from cityloop.cases.open311 import JURISDICTION_ID
from tests.cases.helpers import YJP, point_in


def _key_and_point() -> tuple[str, tuple[float, float]]:
    from cityloop.cases.open311_io import create_key
    from cityloop.core.audit import Actor
    from cityloop.core.db import session_scope

    with session_scope() as s:
        key = create_key(s, actor=Actor("test"), name="georeport")
        point = point_in(s, f"{YJP}-C1-G1")
    return key, point


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_georeport_client_lists_services_and_reads_back_a_posted_request(server: Any, fmt: str) -> None:
    key, (lon, lat) = _key_and_point()
    root = f"{server.base}/open311/v2"
    client = GeoReport(root, jurisdiction=JURISDICTION_ID, api_key=key, output_format=fmt)

    services = client.get_service_list()
    garbage = next(s for s in services if s["service_code"] == "SJ0102")
    assert garbage["group"] == "市容环境" and str(garbage["metadata"]).lower() == "true"
    definition = client.get_service_definition("SJ0102")
    attribute = definition["attributes"]["attribute"] if fmt == "xml" else definition["attributes"][0]
    assert attribute["code"] == "urgency" and attribute["datatype"] == "singlevaluelist"

    form = {
        "api_key": key,
        "jurisdiction_id": JURISDICTION_ID,
        "service_code": "SJ0102",
        "lat": lat,
        "long": lon,
    }
    posted = requests.post(f"{root}/requests.json", data=form | {"attribute[urgency]": "urgent"}, timeout=30)
    assert posted.status_code == 200, posted.text
    sr_id = posted.json()[0]["service_request_id"]

    one = client.get_service_request(sr_id)
    assert one["service_request_id"] == sr_id and one["status"] == "open"
    assert one["agency_responsible"] == "杨家坪街道" and one["requested_datetime"].endswith("+08:00")
    listed = client.get_service_requests(service_code="SJ0102", status="open")
    listed = listed if isinstance(listed, list) else [listed]  # xmltodict: one element is not a list
    assert sr_id in {r["service_request_id"] for r in listed}
    with pytest.raises(requests.HTTPError) as err:
        client.get_service_request("JLP-1999-000001")
    assert err.value.response.status_code == 404
