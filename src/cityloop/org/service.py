"""Units, people, accounts and tokens. Functions take keyword arguments and a session; they flush,
never commit (the caller owns the transaction) and write an audit record for every change."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cityloop.config import get_settings
from cityloop.core import audit
from cityloop.core.clock import now
from cityloop.core.errors import Conflict, NotFound, TooManyAttempts, Unauthorized, ValidationFailed
from cityloop.core.geo import GeometryError, parse_area, to_geojson
from cityloop.core.permissions import DISTRICT_WIDE, Principal, Role
from cityloop.core.security import hash_password, new_api_token, token_digest, verify_password
from cityloop.core.validation import parse_id
from cityloop.org.models import AREA_KINDS, ApiToken, Person, Unit, UnitKind, User

Actor = Principal | audit.Actor | None
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,80}$")
MIN_PASSWORD = 8


# --- units -----------------------------------------------------------------------------------


def get_unit(session: Session, *, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound("error.unit_not_found", ref=unit_id)
    return unit


def find_unit(session: Session, *, ref: str, kind: str | None = None) -> Unit:
    """A unit by code, or by name when the name is unique (within ``kind`` if given)."""
    unit = session.execute(select(Unit).where(Unit.code == ref)).scalar_one_or_none()
    if unit is not None:
        return unit
    stmt = select(Unit).where(Unit.name == ref)
    if kind:
        stmt = stmt.where(Unit.kind == kind)
    matches = session.execute(stmt).scalars().all()
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise Conflict("error.unit_ambiguous", ref=ref, count=len(matches))
    raise NotFound("error.unit_not_found", ref=ref)


def _check_geometry(kind: str, geometry: Any) -> dict[str, Any] | None:
    if geometry is None:
        return None
    if kind not in AREA_KINDS:
        raise ValidationFailed("error.geometry_not_allowed", kind=kind)
    try:
        return to_geojson(parse_area(geometry))
    except GeometryError as exc:
        raise ValidationFailed("error.geometry_invalid", reason=str(exc)) from exc


def create_unit(
    session: Session,
    *,
    actor: Actor,
    code: str,
    name: str,
    kind: str,
    parent: Unit | None,
    geometry: Any = None,
    geometry_schematic: bool = False,
    name_en: str | None = None,
    administered_by: str | None = None,
    sort_order: int = 0,
) -> Unit:
    if kind not in UnitKind.__members__:
        raise ValidationFailed("error.unit_kind_unknown", kind=kind)
    code, name = code.strip(), name.strip()
    if not code or not name:
        raise ValidationFailed("error.required_field", field="code/name")
    if parent is None and kind != UnitKind.district:
        raise ValidationFailed("error.unit_needs_parent")
    if session.execute(select(Unit.id).where(Unit.code == code)).first():
        raise Conflict("error.unit_code_taken", code=code)
    unit = Unit(
        code=code,
        name=name,
        name_en=name_en,
        kind=kind,
        parent_id=parent.id if parent else None,
        geometry=_check_geometry(kind, geometry),
        geometry_schematic=geometry_schematic and geometry is not None,
        administered_by=administered_by,
        sort_order=sort_order,
    )
    session.add(unit)
    session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="unit",
        entity_id=unit.id,
        after=audit.snapshot(unit, exclude={"geometry"}),
    )
    return unit


def update_unit(
    session: Session,
    *,
    actor: Actor,
    unit: Unit,
    expected_version: int | None = None,
    **changes: Any,
) -> Unit:
    """Change name, code, geometry, parent …; ``expected_version`` guards against lost updates."""
    if expected_version is not None and expected_version != unit.version:
        raise Conflict("error.stale_version", current=unit.version)
    before = audit.snapshot(unit, exclude={"geometry"})
    geometry_changed = "geometry" in changes
    if geometry_changed:
        unit.geometry = _check_geometry(unit.kind, changes.pop("geometry"))
        unit.geometry_schematic = bool(changes.pop("geometry_schematic", False)) and unit.geometry is not None
    new_parent = changes.pop("parent", None)
    for key, value in changes.items():
        if key not in {"name", "name_en", "code", "administered_by", "sort_order", "active"}:
            raise ValidationFailed("error.unknown_field", field=key)
        taken = (
            key == "code"
            and value != unit.code
            and session.execute(select(Unit.id).where(Unit.code == value)).first()
        )
        if taken:
            raise Conflict("error.unit_code_taken", code=value)
        setattr(unit, key, value)
    if new_parent is not None and new_parent.id != unit.parent_id:
        _move(session, unit=unit, parent=new_parent)
    session.flush()
    after = audit.snapshot(unit, exclude={"geometry"})
    if geometry_changed:
        after["geometry_changed"] = True
    audit.record(
        session,
        actor=actor,
        action="update",
        entity_type="unit",
        entity_id=unit.id,
        before=before,
        after=after,
    )
    return unit


def _move(session: Session, *, unit: Unit, parent: Unit) -> None:
    if parent.path.startswith(unit.path):
        raise ValidationFailed("error.unit_cycle")
    old_prefix, new_prefix = unit.path, f"{parent.path}{unit.id}/"
    unit.parent_id = parent.id
    for sub in session.execute(select(Unit).where(Unit.path.startswith(old_prefix))).scalars():
        sub.path = new_prefix + sub.path[len(old_prefix) :]


def list_units(
    session: Session,
    *,
    principal: Principal,
    kind: str | None = None,
    parent_id: int | None = None,
    with_geometry: bool = True,
) -> Sequence[Unit]:
    """Units inside the principal's scope, in tree order."""
    stmt = select(Unit).where(Unit.path.startswith(principal.scope_path))
    if kind:
        stmt = stmt.where(Unit.kind == kind)
    if parent_id is not None:
        stmt = stmt.where(Unit.parent_id == parent_id)
    stmt = stmt.order_by(Unit.sort_order, Unit.id)
    return session.execute(stmt).scalars().all()


def get_unit_in_scope(session: Session, *, principal: Principal, ref: str) -> Unit:
    """A unit by id or code, as seen by ``principal``: out of scope is indistinguishable from absent."""
    unit = None
    unit_id = parse_id(ref)
    if unit_id is not None:
        unit = session.get(Unit, unit_id)
    if unit is None:
        unit = session.execute(select(Unit).where(Unit.code == ref)).scalar_one_or_none()
    if unit is None or not principal.sees_path(unit.path):
        raise NotFound("error.unit_not_found", ref=ref)
    return unit


def district_root(session: Session) -> Unit:
    root = (
        session.execute(
            select(Unit).where(Unit.parent_id.is_(None), Unit.kind == UnitKind.district).order_by(Unit.id)
        )
        .scalars()
        .first()
    )
    if root is None:
        raise NotFound("error.no_district")
    return root


# --- people and accounts -----------------------------------------------------------------------


def create_person(
    session: Session,
    *,
    actor: Actor,
    name: str,
    unit: Unit,
    title: str | None = None,
    phone: str | None = None,
) -> Person:
    person = Person(name=name.strip(), unit_id=unit.id, title=title, phone=phone)
    session.add(person)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="person",
        entity_id=person.id,
        after=audit.snapshot(person),
    )
    return person


def list_people(session: Session, *, principal: Principal, unit_id: int | None = None) -> Sequence[Person]:
    stmt = (
        select(Person).join(Unit, Person.unit_id == Unit.id).where(Unit.path.startswith(principal.scope_path))
    )
    if unit_id is not None:
        stmt = stmt.where(Person.unit_id == unit_id)
    return session.execute(stmt.order_by(Unit.sort_order, Person.name)).scalars().all()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed("error.password_too_short", min=MIN_PASSWORD)


def create_user(
    session: Session,
    *,
    actor: Actor,
    username: str,
    password: str,
    role: str,
    unit: Unit,
    display_name: str | None = None,
    person: Person | None = None,
    locale: str = "zh-CN",
    phone: str | None = None,
) -> User:
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise ValidationFailed("error.username_invalid")
    if role not in Role.__members__:
        raise ValidationFailed("error.role_unknown", role=role, roles=", ".join(Role))
    _check_password(password)
    if session.execute(select(User.id).where(func.lower(User.username) == username.lower())).first():
        raise Conflict("error.username_taken", username=username)
    user = User(
        username=username,
        display_name=(display_name or username).strip(),
        password_hash=hash_password(password),
        role=role,
        unit_id=unit.id,
        person_id=person.id if person else None,
        locale=locale,
        phone=phone,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="user",
        entity_id=user.id,
        after=audit.snapshot(user),
    )
    return user


def update_user(session: Session, *, actor: Actor, user: User, **changes: Any) -> User:
    before = audit.snapshot(user)
    if "password" in changes:
        password = changes.pop("password")
        _check_password(password)
        user.password_hash = hash_password(password)
        user.session_epoch += 1
    if "role" in changes and changes["role"] not in Role.__members__:
        raise ValidationFailed("error.role_unknown", role=changes["role"], roles=", ".join(Role))
    if "unit" in changes:
        user.unit_id = changes.pop("unit").id
    if changes.pop("unlock", False):
        user.failed_logins = 0
        user.locked_until = None
    for key, value in changes.items():
        if key not in {"display_name", "role", "active", "locale", "phone", "email"}:
            raise ValidationFailed("error.unknown_field", field=key)
        setattr(user, key, value)
    if changes.get("active") is False or "role" in changes:
        user.session_epoch += 1  # a disabled account or a changed role signs out everywhere
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update",
        entity_type="user",
        entity_id=user.id,
        before=before,
        after=audit.snapshot(user),
    )
    return user


def get_user(session: Session, *, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound("error.user_not_found", username=username)
    return user


def principal_for(user: User) -> Principal:
    role = Role(user.role)
    unit_path = user.unit.path
    if role in DISTRICT_WIDE:
        root_id = unit_path.strip("/").split("/")[0]
        scope = f"/{root_id}/"
    else:
        scope = unit_path
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=role,
        unit_id=user.unit_id,
        unit_path=unit_path,
        scope_path=scope,
        locale=user.locale,
    )


def authenticate(session: Session, *, username: str, password: str) -> User:
    """Check a password. Repeated failures lock the account for a while (429 while locked)."""
    settings = get_settings()
    user = session.execute(
        select(User).where(func.lower(User.username) == username.strip().lower())
    ).scalar_one_or_none()
    current = now()
    if user is not None and user.locked_until is not None and user.locked_until > current:
        minutes = max(1, int((user.locked_until - current).total_seconds() // 60) + 1)
        raise TooManyAttempts("error.login_locked", minutes=minutes)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= settings.login_max_failures:
                user.locked_until = current + timedelta(minutes=settings.login_lock_minutes)
                user.failed_logins = 0
                audit.record(
                    session,
                    actor=None,
                    action="lock",
                    entity_type="user",
                    entity_id=user.id,
                    after={"locked_until": user.locked_until.isoformat()},
                )
            session.flush()
        raise Unauthorized("error.login_failed")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = current
    session.flush()
    return user


# --- API tokens ----------------------------------------------------------------------------------


def create_token(session: Session, *, actor: Actor, user: User, name: str = "cli") -> str:
    """A new bearer token for ``user``; only its digest is stored, so it is shown once."""
    token = new_api_token()
    row = ApiToken(user_id=user.id, name=name, digest=token_digest(token))
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="api_token",
        entity_id=row.id,
        after={"user_id": user.id, "name": name},
    )
    return token


def revoke_token(session: Session, *, actor: Actor, token: str) -> ApiToken:
    """Withdraw a bearer token at once (servers in this process refuse it on the next request)."""
    row = session.execute(select(ApiToken).where(ApiToken.digest == token_digest(token))).scalar_one_or_none()
    if row is None:
        raise NotFound("error.token_not_found")
    if row.revoked_at is None:
        row.revoked_at = now()
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="revoke",
            entity_type="api_token",
            entity_id=row.id,
            after={"user_id": row.user_id, "name": row.name},
        )
    return row


def user_for_token(session: Session, *, token: str) -> User:
    row = session.execute(
        select(ApiToken).where(ApiToken.digest == token_digest(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None or not row.user.active:
        raise Unauthorized("error.token_invalid")
    return row.user


def search_users(
    session: Session, *, principal: Principal, q: str | None = None, limit: int = 200
) -> Sequence[User]:
    stmt = select(User).join(Unit, User.unit_id == Unit.id).where(Unit.path.startswith(principal.scope_path))
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(User.username.ilike(like), User.display_name.ilike(like)))
    return session.execute(stmt.order_by(User.username).limit(limit)).scalars().all()
