"""JSON API for the organisation: /api/v1/me, /api/v1/units, /api/v1/users."""

from __future__ import annotations

from fastapi import APIRouter, Query

from cityloop.core.errors import NotFound
from cityloop.core.http import DB, CurrentPrincipal
from cityloop.core.permissions import ORG_READ, ORG_WRITE, USERS_READ, USERS_WRITE
from cityloop.core.schemas import API_ERRORS
from cityloop.org import service
from cityloop.org.models import Person, Unit, User
from cityloop.org.schemas import (
    MeOut,
    PersonCreate,
    PersonOut,
    UnitCreate,
    UnitOut,
    UnitUpdate,
    UserCreate,
    UserOut,
    UserUpdate,
)

ERRORS = API_ERRORS  # one map for every router (core.schemas)
router = APIRouter(prefix="/api/v1", tags=["org"], responses=ERRORS)


def unit_out(unit: Unit, *, with_geometry: bool = True) -> UnitOut:
    return UnitOut(
        id=unit.id,
        code=unit.code,
        name=unit.name,
        name_en=unit.name_en,
        kind=unit.kind,
        parent=unit.parent.code if unit.parent else None,
        geometry=unit.geometry if with_geometry else None,
        geometry_schematic=unit.geometry_schematic,
        administered_by=unit.administered_by,
        version=unit.version,
        updated_at=unit.updated_at,
    )


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        unit_code=user.unit.code,
        active=user.active,
        locked_until=user.locked_until,
        last_login_at=user.last_login_at,
        created_at=user.created_at,
    )


@router.get("/me", response_model=MeOut)
def me(db: DB, principal: CurrentPrincipal) -> MeOut:
    unit = service.get_unit(db, unit_id=principal.unit_id)
    return MeOut(
        id=principal.user_id,
        username=principal.username,
        display_name=principal.display_name,
        role=principal.role,
        unit=unit_out(unit, with_geometry=False),
        locale=principal.locale,
        scope=principal.scope_path,
    )


@router.get("/units", response_model=list[UnitOut])
def list_units(
    db: DB,
    principal: CurrentPrincipal,
    kind: str | None = None,
    geometry: bool = Query(True, description="include GeoJSON geometry"),
) -> list[UnitOut]:
    """Units the caller may see (its unit and everything below; district roles see all)."""
    principal.require(ORG_READ)
    return [
        unit_out(u, with_geometry=geometry) for u in service.list_units(db, principal=principal, kind=kind)
    ]


@router.get("/units/{ref}", response_model=UnitOut)
def get_unit(ref: str, db: DB, principal: CurrentPrincipal) -> UnitOut:
    principal.require(ORG_READ)
    return unit_out(service.get_unit_in_scope(db, principal=principal, ref=ref))


@router.post("/units", response_model=UnitOut, status_code=201)
def create_unit(body: UnitCreate, db: DB, principal: CurrentPrincipal) -> UnitOut:
    principal.require(ORG_WRITE)
    parent = _unit_in_scope(db, principal, body.parent)
    unit = service.create_unit(
        db,
        actor=principal,
        code=body.code,
        name=body.name,
        kind=body.kind.value,
        parent=parent,
        geometry=body.geometry,
        name_en=body.name_en,
        administered_by=body.administered_by,
    )
    db.commit()
    return unit_out(unit)


@router.patch("/units/{ref}", response_model=UnitOut)
def update_unit(ref: str, body: UnitUpdate, db: DB, principal: CurrentPrincipal) -> UnitOut:
    principal.require(ORG_WRITE)
    unit = service.get_unit_in_scope(db, principal=principal, ref=ref)
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    if "parent" in changes:
        changes["parent"] = _unit_in_scope(db, principal, changes["parent"])
    unit = service.update_unit(db, actor=principal, unit=unit, expected_version=body.version, **changes)
    db.commit()
    return unit_out(unit)


@router.get("/users", response_model=list[UserOut])
def list_users(db: DB, principal: CurrentPrincipal, q: str | None = None) -> list[UserOut]:
    principal.require(USERS_READ)
    return [user_out(u) for u in service.search_users(db, principal=principal, q=q)]


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserCreate, db: DB, principal: CurrentPrincipal) -> UserOut:
    principal.require(USERS_WRITE)
    unit = _unit_in_scope(db, principal, body.unit)
    user = service.create_user(
        db,
        actor=principal,
        username=body.username,
        password=body.password,
        role=body.role.value,
        unit=unit,
        display_name=body.display_name,
    )
    db.commit()
    return user_out(user)


@router.patch("/users/{username}", response_model=UserOut)
def update_user(username: str, body: UserUpdate, db: DB, principal: CurrentPrincipal) -> UserOut:
    """Change role, unit, name; deactivate; reset the password; unlock after failed sign-ins."""
    principal.require(USERS_WRITE)
    user = service.get_user(db, username=username)
    if not principal.sees_path(user.unit.path):
        raise NotFound("error.user_not_found", username=username)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "unit" in changes:
        changes["unit"] = _unit_in_scope(db, principal, changes["unit"])
    if "role" in changes:
        changes["role"] = changes["role"].value
    user = service.update_user(db, actor=principal, user=user, **changes)
    db.commit()
    return user_out(user)


def person_out(person: Person) -> PersonOut:
    return PersonOut(
        id=person.id,
        name=person.name,
        title=person.title,
        phone=person.phone,
        unit_code=person.unit.code,
        active=person.active,
    )


@router.get("/people", response_model=list[PersonOut])
def list_people(db: DB, principal: CurrentPrincipal, unit: str | None = None) -> list[PersonOut]:
    """Named staff (责任到人) in the caller's scope, optionally of one unit."""
    principal.require(ORG_READ)
    unit_id = service.get_unit_in_scope(db, principal=principal, ref=unit).id if unit else None
    return [person_out(p) for p in service.list_people(db, principal=principal, unit_id=unit_id)]


@router.post("/people", response_model=PersonOut, status_code=201)
def create_person(body: PersonCreate, db: DB, principal: CurrentPrincipal) -> PersonOut:
    principal.require(ORG_WRITE)
    unit = _unit_in_scope(db, principal, body.unit)
    person = service.create_person(
        db, actor=principal, name=body.name, unit=unit, title=body.title, phone=body.phone
    )
    db.commit()
    return person_out(person)


def _unit_in_scope(db: DB, principal: CurrentPrincipal, ref: str) -> Unit:
    unit = service.find_unit(db, ref=ref)
    if not principal.sees_path(unit.path):
        raise NotFound("error.unit_not_found", ref=ref)
    return unit
