"""Units, people, accounts and tokens. Functions take keyword arguments and a session; they flush,
never commit (the caller owns the transaction) and write an audit record for every change."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from cityloop.config import get_settings
from cityloop.core import audit
from cityloop.core.aside import write_aside
from cityloop.core.clock import now, to_display
from cityloop.core.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from cityloop.core.geo import GeometryError, parse_area, to_geojson
from cityloop.core.permissions import DISTRICT_WIDE, Principal, Role
from cityloop.core.security import hash_password, new_api_token, token_digest, verify_password
from cityloop.core.validation import parse_id
from cityloop.org import sessions, throttle
from cityloop.org.models import AREA_KINDS, ApiToken, Person, Unit, UnitKind, User

Actor = Principal | audit.Actor | None
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,80}$")
MIN_PASSWORD = 8
MAX_LOCK_MINUTES = 366 * 24 * 60
MAX_TOKEN_DAYS = 3650


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
    """Change an account. ``lock_minutes`` locks it (no sign-in, session or token until then),
    ``unlock`` lifts a lock and forgets its failed sign-ins, ``sign_out`` ends its sessions everywhere.
    A new password, a new role, deactivation and a lock end them too."""
    before = audit.snapshot(user)
    ended_because: str | None = None
    if "password" in changes:
        password = changes.pop("password")
        _check_password(password)
        user.password_hash = hash_password(password)
        ended_because = "password"
    if "role" in changes and changes["role"] not in Role.__members__:
        raise ValidationFailed("error.role_unknown", role=changes["role"], roles=", ".join(Role))
    if "unit" in changes:
        user.unit_id = changes.pop("unit").id
    lock_minutes = changes.pop("lock_minutes", None)
    if changes.pop("unlock", False):
        user.failed_logins = 0
        user.locked_until = None
        throttle.reset_account(session, username=user.username)
    if lock_minutes:
        if not 1 <= int(lock_minutes) <= MAX_LOCK_MINUTES:
            raise ValidationFailed("error.lock_minutes", max=MAX_LOCK_MINUTES)
        user.locked_until = now() + timedelta(minutes=int(lock_minutes))
        ended_because = "locked"
    if changes.pop("sign_out", False):
        ended_because = ended_because or "admin"
    for key, value in changes.items():
        if key not in {"display_name", "role", "active", "locale", "phone", "email"}:
            raise ValidationFailed("error.unknown_field", field=key)
        if key == "role" and value != user.role:
            ended_because = ended_because or "role"
        if key == "active" and value is False and user.active:
            ended_because = "deactivated"
        setattr(user, key, value)
    if ended_because:
        sessions.revoke_all(session, user=user, reason=ended_because)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update",
        entity_type="user",
        entity_id=user.id,
        before=before,
        after=audit.snapshot(user),
        note=f"sessions ended: {ended_because}" if ended_because else None,
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


def authenticate(session: Session, *, username: str, password: str, address: str | None) -> User:
    """Check a password, throttled (org/throttle.py): the attempt is claimed and committed first, then
    the password is checked outside any transaction. Raises ``TooManyAttempts`` (429, with when to try
    again), ``Unauthorized`` (wrong name or password, or a disabled account) or ``Forbidden``
    (``account_locked``: an administrator's lock, told only to whoever gave the right password).

    Commits ``session``: call it at the start of a unit of work. On success the caller records the
    sign-in (``last_login_at`` and the throttle's reset are flushed) and commits."""
    throttle.claim(session, username=username, address=address)
    user = session.execute(
        select(User).where(func.lower(User.username) == username.strip().lower())
    ).scalar_one_or_none()
    session.commit()  # the claim counts even if the check below is interrupted; no lock held during it
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        raise Unauthorized("error.login_failed")
    current = now()
    if user.locked_until is not None and user.locked_until > current:
        raise Forbidden("error.account_locked", error_code="account_locked", time=_shown(user.locked_until))
    throttle.succeeded(session, username=username, address=address)
    user.last_login_at = current
    session.flush()
    return user


def _shown(moment: datetime) -> str:
    shown = to_display(moment)
    return shown.strftime("%Y-%m-%d %H:%M") if shown else ""


# --- API tokens ----------------------------------------------------------------------------------


def create_token(
    session: Session, *, actor: Actor, user: User, name: str = "cli", days: int | None = None
) -> str:
    """A new bearer token for ``user``; only its digest is stored, so it is shown once. It expires after
    ``days`` (default ``token_default_days``; 0: never)."""
    days = get_settings().token_default_days if days is None else days
    if not 0 <= days <= MAX_TOKEN_DAYS:
        raise ValidationFailed("error.token_days", max=MAX_TOKEN_DAYS)
    token = new_api_token()
    expires = now() + timedelta(days=days) if days else None
    row = ApiToken(user_id=user.id, name=name, digest=token_digest(token), expires_at=expires)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="api_token",
        entity_id=row.id,
        after={"user_id": user.id, "name": name, "expires_at": expires.isoformat() if expires else None},
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


def list_tokens(session: Session, *, username: str | None = None) -> Sequence[ApiToken]:
    stmt = select(ApiToken).join(User, ApiToken.user_id == User.id)
    if username is not None:
        stmt = stmt.where(User.id == get_user(session, username=username).id)
    return session.execute(stmt.order_by(ApiToken.id)).scalars().all()


def check_token(session: Session, *, token: str) -> tuple[User, datetime | None]:
    """The account a bearer token stands for and the token's expiry; ``Unauthorized`` when the token is
    unknown, revoked or expired, or its account disabled or locked. Notes the token's use at most once
    a minute."""
    row = session.execute(select(ApiToken).where(ApiToken.digest == token_digest(token))).scalar_one_or_none()
    current = now()
    if row is None or row.revoked_at is not None:
        raise Unauthorized("error.token_invalid")
    if row.expires_at is not None and row.expires_at <= current:
        raise Unauthorized("error.token_expired", details={"reason": "expired"})
    user = row.user
    if not user.active:
        raise Unauthorized("error.token_account_disabled", details={"reason": "account_disabled"})
    if user.locked_until is not None and user.locked_until > current:
        raise Unauthorized("error.token_account_locked", details={"reason": "account_locked"})
    if row.last_used_at is None or (current - row.last_used_at).total_seconds() >= sessions.TOUCH_SECONDS:
        # Bookkeeping only: flagged so that the token cache does not take it for a change of the token.
        write_aside(
            update(ApiToken)
            .where(ApiToken.id == row.id)
            .values(last_used_at=current)
            .execution_options(synchronize_session=False, cityloop_bookkeeping=True),
        )
    return user, row.expires_at


def user_for_token(session: Session, *, token: str) -> User:
    return check_token(session, token=token)[0]


def search_users(
    session: Session, *, principal: Principal, q: str | None = None, limit: int = 200
) -> Sequence[User]:
    stmt = select(User).join(Unit, User.unit_id == Unit.id).where(Unit.path.startswith(principal.scope_path))
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(User.username.ilike(like), User.display_name.ilike(like)))
    return session.execute(stmt.order_by(User.username).limit(limit)).scalars().all()
