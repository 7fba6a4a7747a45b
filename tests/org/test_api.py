"""The org API: identity, scope, validation; every refusal leaves the database unchanged."""

import json

from sqlalchemy import func, select

from cityloop.core.audit import AuditRecord
from cityloop.org.models import Unit

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[106.50, 29.50], [106.51, 29.50], [106.51, 29.51], [106.50, 29.50]]],
}


def counts(db):
    return (
        db.scalar(select(func.count()).select_from(Unit)),
        db.scalar(select(func.count()).select_from(AuditRecord)),
    )


def test_healthz(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_me_shows_role_unit_and_zoned_times(client, token_for) -> None:
    body = client.get("/api/v1/me", headers=token_for("street")).json()
    assert body["role"] == "street" and body["unit"]["name"] == "杨家坪街道"
    assert body["unit"]["updated_at"].endswith("+08:00")


def test_no_or_bad_token_is_401_json(client) -> None:
    r = client.get("/api/v1/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = client.get("/api/v1/me", headers={"Authorization": "Bearer clp_nope"})
    assert r.status_code == 401 and r.json()["error"]["message"]


def test_district_roles_see_every_unit_with_geometry(client, token_for, db) -> None:
    units = client.get("/api/v1/units", headers=token_for("dispatcher")).json()
    assert len(units) == db.scalar(select(func.count()).select_from(Unit))
    street = next(u for u in units if u["code"] == "500107001000")
    assert street["kind"] == "street" and street["parent"] == "500107"
    assert street["geometry"]["type"] in ("Polygon", "MultiPolygon") and street["geometry_schematic"]


def test_street_account_sees_only_its_subtree(client, token_for) -> None:
    units = client.get("/api/v1/units", headers=token_for("street")).json()
    names = {u["name"] for u in units}
    assert "杨家坪街道" in names and "杨家坪街道1-1网格" in names
    assert "黄桷坪街道" not in names and "九龙坡区" not in names
    assert all(u["code"].startswith("500107001000") for u in units)


def test_street_a_cannot_read_or_change_street_b(client, token_for, db) -> None:
    h = token_for("street")
    assert client.get("/api/v1/units/500107002000", headers=h).status_code == 404
    before = counts(db)
    r = client.patch("/api/v1/units/500107002000", headers=h, json={"version": 1, "name": "x"})
    assert r.status_code == 403  # not even an admin of its own street may rename units
    assert counts(db) == before


def test_citizen_sees_no_organisation(client, token_for) -> None:
    r = client.get("/api/v1/units", headers=token_for("citizen"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_admin_creates_a_grid_cell_with_a_polygon(client, token_for, db) -> None:
    r = client.post(
        "/api/v1/units",
        headers=token_for("admin"),
        json={
            "code": "500107001000-C1-G9",
            "name": "新网格",
            "kind": "grid",
            "parent": "500107001000-C1",
            "geometry": SQUARE,
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["parent"] == "500107001000-C1" and r.json()["geometry"]["type"] == "Polygon"
    assert db.scalar(select(Unit).where(Unit.code == "500107001000-C1-G9")).path.endswith(
        f"/{r.json()['id']}/"
    )


def test_bad_input_is_a_clear_4xx_and_writes_nothing(client, token_for, db) -> None:
    h = token_for("admin")
    before = counts(db)
    malformed = client.post(
        "/api/v1/units", headers={**h, "content-type": "application/json"}, content=b"{nope"
    )
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "invalid_json"
    wrong_type = client.post(
        "/api/v1/units", headers=h, json={"code": 5, "name": [], "kind": "grid", "parent": "x"}
    )
    assert wrong_type.status_code == 422
    fields = {d["field"] for d in wrong_type.json()["error"]["details"]}
    assert {"code", "name"} <= fields
    unknown_unit = client.post(
        "/api/v1/units",
        headers=h,
        json={"code": "G-new", "name": "n", "kind": "grid", "parent": "no-such-unit"},
    )
    assert unknown_unit.status_code == 404 and "no-such-unit" in unknown_unit.json()["error"]["message"]
    point = client.post(
        "/api/v1/units",
        headers=h,
        json={
            "code": "G-new",
            "name": "n",
            "kind": "grid",
            "parent": "500107001000-C1",
            "geometry": {"type": "Point", "coordinates": [106.5, 29.5]},
        },
    )
    assert point.status_code == 422 and point.json()["error"]["code"] == "validation_error"
    unknown_kind = client.post(
        "/api/v1/units", headers=h, json={"code": "G", "name": "n", "kind": "castle", "parent": "500107"}
    )
    assert unknown_kind.status_code == 422
    extra = client.post(
        "/api/v1/units",
        headers=h,
        json={"code": "G", "name": "n", "kind": "grid", "parent": "500107", "colour": "red"},
    )
    assert extra.status_code == 422
    huge = client.post(
        "/api/v1/units",
        headers={**h, "content-type": "application/json"},
        content=json.dumps({"code": "G", "name": "x" * 2_000_000}).encode(),
    )
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "payload_too_large"
    assert counts(db) == before


def test_oversized_body_without_content_length_is_refused(client, token_for) -> None:
    def chunks():
        for _ in range(40):
            yield b"x" * 65536

    r = client.post(
        "/api/v1/units", headers={**token_for("admin"), "content-type": "application/json"}, content=chunks()
    )
    assert r.status_code == 413


def test_stale_version_is_409_not_a_lost_update(client, token_for) -> None:
    h = token_for("admin")
    unit = client.get("/api/v1/units/500107001000", headers=h).json()
    first = client.patch(
        "/api/v1/units/500107001000", headers=h, json={"version": unit["version"], "name": "A"}
    )
    assert first.status_code == 200
    second = client.patch(
        "/api/v1/units/500107001000", headers=h, json={"version": unit["version"], "name": "B"}
    )
    assert second.status_code == 409 and second.json()["error"]["code"] == "conflict"
    assert client.get("/api/v1/units/500107001000", headers=h).json()["name"] == "A"


def test_error_messages_follow_the_callers_language(client, token_for) -> None:
    h = token_for("street")
    zh = client.get("/api/v1/units/nowhere", headers=h).json()["error"]["message"]
    en = client.get("/api/v1/units/nowhere", headers={**h, "Accept-Language": "en"}).json()["error"][
        "message"
    ]
    assert "找不到" in zh and en.startswith("No such unit")


def test_users_are_admin_only_to_create_and_scoped_to_read(client, token_for) -> None:
    r = client.post(
        "/api/v1/users",
        headers=token_for("street"),
        json={"username": "newbie", "password": "long-enough", "role": "street", "unit": "500107001000"},
    )
    assert r.status_code == 403
    r = client.post(
        "/api/v1/users",
        headers=token_for("admin"),
        json={"username": "newbie", "password": "long-enough", "role": "inspector", "unit": "杨家坪街道"},
    )
    assert r.status_code == 201 and r.json()["unit_code"] == "500107001000"
    dup = client.post(
        "/api/v1/users",
        headers=token_for("admin"),
        json={"username": "newbie", "password": "long-enough", "role": "inspector", "unit": "杨家坪街道"},
    )
    assert dup.status_code == 409
    listed = client.get("/api/v1/users", headers=token_for("supervisor")).json()
    assert any(u["username"] == "newbie" for u in listed)


def test_openapi_is_served(client) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/units" in spec["paths"] and "/api/v1/me" in spec["paths"]


def test_people_are_created_by_admins_and_listed_in_scope(client, token_for) -> None:
    r = client.post(
        "/api/v1/people",
        headers=token_for("admin"),
        json={"name": "李强", "unit": "500107002000", "title": "副主任", "phone": "023-6878 0000"},
    )
    assert r.status_code == 201 and r.json()["unit_code"] == "500107002000"
    assert (
        client.post(
            "/api/v1/people", headers=token_for("street"), json={"name": "王五", "unit": "500107001000"}
        ).status_code
        == 403
    )
    bad = client.post("/api/v1/people", headers=token_for("admin"), json={"name": "", "unit": "500107"})
    assert bad.status_code == 422
    assert any(p["name"] == "李强" for p in client.get("/api/v1/people", headers=token_for("street2")).json())
    assert all(p["name"] != "李强" for p in client.get("/api/v1/people", headers=token_for("street")).json())
    assert client.get("/api/v1/people?unit=500107002000", headers=token_for("street")).status_code == 404


def test_admin_unlocks_resets_and_deactivates_an_account(client, token_for, db) -> None:
    from datetime import timedelta

    from cityloop.core.clock import now
    from cityloop.org.models import User

    h = token_for("admin")
    user = db.scalar(select(User).where(User.username == "street2"))
    user.locked_until = now() + timedelta(minutes=10)
    db.commit()
    r = client.patch("/api/v1/users/street2", headers=h, json={"unlock": True, "password": "a-new-password"})
    assert r.status_code == 200 and r.json()["locked_until"] is None
    r = client.patch("/api/v1/users/street2", headers=h, json={"active": False, "role": "inspector"})
    assert r.json()["active"] is False and r.json()["role"] == "inspector"
    assert client.patch("/api/v1/users/street2", headers=h, json={"role": "emperor"}).status_code == 422
    assert client.patch("/api/v1/users/nobody", headers=h, json={"active": True}).status_code == 404
    assert (
        client.patch(
            "/api/v1/users/street2", headers=token_for("supervisor"), json={"active": True}
        ).status_code
        == 403
    )


def test_a_deactivated_accounts_tokens_stop_working(client, token_for) -> None:
    h_street = token_for("street")
    assert client.get("/api/v1/me", headers=h_street).status_code == 200
    client.patch("/api/v1/users/street", headers=token_for("admin"), json={"active": False})
    assert client.get("/api/v1/me", headers=h_street).status_code == 401
