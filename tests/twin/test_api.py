"""The twin API: scoped by operator unit, citizens see nothing, the telemetry batch is idempotent
and refuses what it cannot store without half-saving."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from cityloop.core.audit import Actor
from cityloop.org import service as org
from cityloop.twin import networks
from cityloop.twin.models import DeadLetter, Network, Reading, Sensor, TwinWarning
from tests.twin.conftest import add_sensor, gas_json, import_water

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def n(db, model):
    return db.scalar(select(func.count()).select_from(model))


def _gas_operator(db):
    org.create_user(
        db, actor=Actor("t"), username="gasop", password="cityloop-demo", role="operator",
        unit=org.find_unit(db, ref="util-gas"),
    )  # fmt: skip


def _gas(db, place):
    return networks.import_network(
        db, actor=Actor("t"), kind="gas", name="gasnet", data=gas_json(), file_name="g.json",
        unit=org.find_unit(db, ref="util-gas"), placement=place,
    )  # fmt: skip


def test_operator_sees_only_their_utility_and_district_roles_see_all(client, token_for, db, place) -> None:
    net1 = import_water(db)
    gas = _gas(db, place)
    add_sensor(db, "P-22", "pressure", net1, "22")
    add_sensor(db, "GAS-1", "gas", gas, "G3")
    db.commit()
    water_op = token_for("operator")  # the demo operator belongs to util-water
    names = [x["name"] for x in client.get("/api/v1/twin/networks", headers=water_op).json()]
    assert names == ["demo-water", "net1"]  # the demo's Net3 and this test's Net1
    assert client.get("/api/v1/twin/networks/gasnet", headers=water_op).status_code == 404
    assert client.get("/api/v1/twin/networks/gasnet/geojson", headers=water_op).status_code == 404
    codes = [s["code"] for s in client.get("/api/v1/twin/sensors", headers=water_op).json()]
    assert "P-22" in codes and "GAS-1" not in codes and all(c.startswith(("P-", "W-")) for c in codes)
    assert client.get("/api/v1/twin/sensors/GAS-1/readings", headers=water_op).status_code == 404
    r = client.post("/api/v1/twin/networks/gasnet/impact", headers=water_op, json={"junction": "G3"})
    assert r.status_code == 404
    everyone = {
        x["name"] for x in client.get("/api/v1/twin/networks", headers=token_for("dispatcher")).json()
    }
    assert everyone == {"net1", "gasnet", "demo-water", "demo-drainage", "demo-gas"}
    assert client.get("/api/v1/twin/networks", headers=token_for("street")).json() == []
    citizen = client.get("/api/v1/twin/networks", headers=token_for("citizen"))
    assert citizen.status_code == 403
    assert client.get("/api/v1/twin/warnings", headers=token_for("citizen")).status_code == 403


def test_geojson_has_links_nodes_valves_and_sensors_with_live_state(client, token_for, db) -> None:
    net1 = import_water(db)
    add_sensor(db, "P-22", "pressure", net1, "22")
    db.commit()
    h = token_for("operator")
    client.post("/api/v1/telemetry", headers=h, json=[{"sensor": "P-22", "ts": T0.isoformat(), "value": 9.5}])
    doc = client.get("/api/v1/twin/networks/net1/geojson", headers=h).json()
    layers = {f["properties"]["layer"] for f in doc["features"]}
    assert layers == {"link", "node", "valve", "sensor"} and doc["schematic"] is True
    sensor = next(f for f in doc["features"] if f["properties"]["layer"] == "sensor")
    assert sensor["properties"]["last_value"] == 9.5 and sensor["properties"]["level"] == "red"


def test_telemetry_batch_is_idempotent_and_out_of_scope_sensors_are_dead_lettered(
    client, token_for, db, place
) -> None:
    net1 = import_water(db)
    gas = _gas(db, place)
    add_sensor(db, "P-22", "pressure", net1, "22")
    add_sensor(db, "GAS-1", "gas", gas, "G3")
    db.commit()
    h = token_for("operator")
    batch = {
        "readings": [
            {"sensor": "P-22", "ts": (T0 + timedelta(minutes=i)).isoformat(), "value": 40.0}
            for i in range(50)
        ]
    }
    first = client.post("/api/v1/telemetry", headers=h, json=batch).json()
    again = client.post("/api/v1/telemetry", headers=h, json=batch).json()
    assert (first["stored"], again["stored"], again["duplicates"]) == (50, 0, 50)
    foreign = client.post(
        "/api/v1/telemetry", headers=h, json=[{"sensor": "GAS-1", "ts": T0.isoformat(), "value": 60}]
    )
    assert foreign.status_code == 200 and foreign.json()["dead_lettered"] == 1
    gas_sensor = db.scalar(select(Sensor).where(Sensor.code == "GAS-1"))
    assert db.scalar(select(func.count()).select_from(Reading).where(Reading.sensor_id == gas_sensor.id)) == 0
    assert n(db, TwinWarning) == 0  # the 60 %LEL reading was not accepted from a water operator
    before = (n(db, Reading), n(db, DeadLetter))
    bad = client.post(
        "/api/v1/telemetry", headers={**h, "content-type": "application/json"}, content=b"[{oops"
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    assert (n(db, Reading), n(db, DeadLetter)) == before
    citizen = client.post("/api/v1/telemetry", headers=token_for("citizen"), json=batch)
    assert citizen.status_code == 403
    street = client.post("/api/v1/telemetry", headers=token_for("street"), json=batch)
    assert street.status_code == 403 and (n(db, Reading), n(db, DeadLetter)) == before


def test_warning_detail_history_and_scope(client, token_for, db, place) -> None:
    net1 = import_water(db)
    add_sensor(db, "P-22", "pressure", net1, "22", rules={"disable": ["rate"]})
    db.commit()
    h = token_for("operator")
    for i, v in enumerate([40, 9]):
        client.post(
            "/api/v1/telemetry",
            headers=h,
            json=[{"sensor": "P-22", "ts": (T0 + timedelta(minutes=i)).isoformat(), "value": v}],
        )
    warnings = client.get("/api/v1/twin/warnings?status=open", headers=h).json()
    assert (
        len(warnings) == 1 and warnings[0]["level"] == "red" and warnings[0]["opened_at"].endswith("+08:00")
    )
    detail = client.get(f"/api/v1/twin/warnings/{warnings[0]['id']}", headers=h).json()
    assert [e["event"] for e in detail["events"]] == ["open"] and detail["sensors_normal"] is False
    _gas_operator(db)
    db.commit()
    assert (
        client.get(f"/api/v1/twin/warnings/{warnings[0]['id']}", headers=token_for("gasop")).status_code
        == 404
    )
    assert client.get("/api/v1/twin/warnings", headers=token_for("gasop")).json() == []


def test_sensor_registration_and_network_upload_are_scoped(client, token_for, db, place) -> None:
    _gas(db, place)
    _gas_operator(db)
    db.commit()
    water_op = token_for("operator")
    sensors_before = n(db, Sensor)
    r = client.post(
        "/api/v1/twin/sensors",
        headers=water_op,
        json={"code": "X1", "kind": "gas", "network": "gasnet", "asset": "G2"},
    )
    assert r.status_code == 404 and n(db, Sensor) == sensors_before
    r = client.post(
        "/api/v1/twin/sensors",
        headers=token_for("gasop"),
        json={"code": "X1", "kind": "gas", "network": "gasnet", "asset": "G2"},
    )
    assert r.status_code == 201 and r.json()["operator"] == "util-gas" and r.json()["measure_unit"] == "%LEL"
    upload = client.post(
        "/api/v1/twin/networks", headers=water_op,
        data={"kind": "gas", "name": "gasnet", "origin": "106.5,29.5", "scale": "5"},
        files={"file": ("g.json", gas_json(), "application/json")},
    )  # fmt: skip
    assert upload.status_code == 403
    assert db.scalar(select(Network.version).where(Network.name == "gasnet")) == 1
    ok = client.post(
        "/api/v1/twin/networks", headers=water_op,
        data={"kind": "gas", "name": "gasnet2", "origin": "106.5,29.5", "scale": "5"},
        files={"file": ("g.json", gas_json(), "application/json")},
    )  # fmt: skip
    assert ok.status_code == 201 and ok.json()["operator"] == "util-water"
    bad = client.post(
        "/api/v1/twin/networks", headers=water_op,
        data={"kind": "gas", "name": "gasnet3", "origin": "106.5,29.5", "scale": "5"},
        files={"file": ("g.json", gas_json(bad="negative"), "application/json")},
    )  # fmt: skip
    assert bad.status_code == 422 and "GP2" in bad.json()["error"]["message"]
    assert db.scalar(select(func.count()).select_from(Network).where(Network.name == "gasnet3")) == 0
    assert (
        client.post(
            "/api/v1/twin/sensors", headers=token_for("citizen"), json={"code": "X2", "kind": "gas"}
        ).status_code
        == 403
    )


def test_impact_api_for_a_water_pipe(client, token_for, db) -> None:
    import_water(db)
    db.commit()
    r = client.post("/api/v1/twin/networks/net1/impact", headers=token_for("operator"), json={"pipe": "12"})
    assert r.status_code == 200 and r.json()["valves"] and r.json()["customers_cut_off"]
    missing = client.post(
        "/api/v1/twin/networks/net1/impact", headers=token_for("operator"), json={"pipe": "999"}
    )
    assert missing.status_code == 404


def test_dead_letters_only_for_district_roles(client, token_for, db) -> None:
    assert client.get("/api/v1/twin/dead-letters", headers=token_for("operator")).status_code == 403
    assert client.get("/api/v1/twin/dead-letters", headers=token_for("supervisor")).status_code == 200
