"""Idle spaces: scoped CRUD, the idle → planned → in use machine, bad input refused."""

from sqlalchemy import func, select

from cityloop.core.audit import AuditRecord
from cityloop.resources.models import IdleSpace

USERS = ("citizen", "street", "street2", "department", "admin", "supervisor")
YANGJIAPING = (106.512, 29.508)


def heads(token_for):
    return {u: token_for(u) for u in USERS}


def counts(db):
    return (
        db.scalar(select(func.count()).select_from(IdleSpace)),
        db.scalar(select(func.count()).select_from(AuditRecord)),
    )


def new_space(**over):
    return {
        "name": "旧粮站",
        "lon": YANGJIAPING[0],
        "lat": YANGJIAPING[1],
        "area_m2": 320,
        "owner": "区国资公司",
        "condition": "fair",
        "intended_use": "老年食堂",
        **over,
    }


def test_each_street_sees_its_own_idle_spaces(client, token_for, db) -> None:
    H = heads(token_for)
    mine = client.get("/api/v1/resources/idle-spaces", headers=H["street"]).json()
    theirs = client.get("/api/v1/resources/idle-spaces", headers=H["street2"]).json()
    assert mine and theirs and {s["street_town"] for s in mine} == {"杨家坪街道"}
    assert not {s["id"] for s in mine} & {s["id"] for s in theirs}
    everything = client.get("/api/v1/resources/idle-spaces", headers=H["supervisor"]).json()
    assert len(everything) == counts(db)[0]
    assert client.get("/api/v1/resources/idle-spaces", headers=H["department"]).json() == []
    assert client.get("/api/v1/resources/idle-spaces", headers=H["citizen"]).status_code == 403
    other = theirs[0]["id"]
    assert client.get(f"/api/v1/resources/idle-spaces/{other}", headers=H["street"]).status_code == 404
    before = counts(db)
    r = client.patch(
        f"/api/v1/resources/idle-spaces/{other}", headers=H["street"], json={"version": 1, "owner": "x"}
    )
    assert r.status_code == 404
    r = client.post(
        f"/api/v1/resources/idle-spaces/{other}/transitions", headers=H["street"], json={"action": "plan"}
    )
    assert r.status_code == 404
    assert counts(db) == before


def test_register_and_move_an_idle_space_to_use(client, token_for, db) -> None:
    H = heads(token_for)
    r = client.post("/api/v1/resources/idle-spaces", headers=H["street"], json=new_space())
    assert r.status_code == 201 and r.json()["status"] == "idle" and r.json()["street_town"] == "杨家坪街道"
    sid = r.json()["id"]
    url = f"/api/v1/resources/idle-spaces/{sid}/transitions"
    assert client.post(url, headers=H["street"], json={"action": "start_use"}).status_code == 409
    assert client.post(url, headers=H["street"], json={"action": "plan"}).json()["status"] == "planned"
    assert client.post(url, headers=H["street"], json={"action": "start_use"}).json()["status"] == "in_use"
    trail = db.scalars(  # in the order written: PostgreSQL returns heap order, not insertion order
        select(AuditRecord.action)
        .where(AuditRecord.entity_type == "idle_space", AuditRecord.entity_id == str(sid))
        .order_by(AuditRecord.id)
    ).all()
    assert trail == ["create", "plan", "start_use"]
    stale = client.patch(
        f"/api/v1/resources/idle-spaces/{sid}", headers=H["street"], json={"version": 1, "owner": "新"}
    )
    assert stale.status_code == 409


def test_bad_idle_space_input_is_refused_and_nothing_saved(client, token_for, db) -> None:
    H = heads(token_for)
    before = counts(db)
    cases = [
        (H["street"], new_space(lon=106.520, lat=29.482), 422),  # another street
        (H["admin"], new_space(lon=116.4, lat=39.9), 422),  # outside the district
        (H["admin"], new_space(area_m2=-5), 422),
        (H["admin"], new_space(condition="ruined"), 422),
        (H["citizen"], new_space(), 403),
        (H["department"], new_space(), 403),
    ]
    for headers, body, status in cases:
        assert client.post("/api/v1/resources/idle-spaces", headers=headers, json=body).status_code == status
    assert counts(db) == before
