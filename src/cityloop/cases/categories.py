"""The 部件/事件 taxonomy as data: list, look up, create/update, and import from CSV.

Codes: CJ/T 214-2007 (the classic six-class model behind GB/T 30428.2) is the primary scheme and its
leaves are addressed as ``BJ0101`` (部件 0101 上水井盖) or ``SJ0501`` (事件 0501 无照经营游商). Leaves of
other schemes keep their own numbers and say so: ``SJ06019@GBT47678.5-2026``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.cases.cache import TableCache
from cityloop.cases.deadlines import normalise_deadlines
from cityloop.cases.models import Category
from cityloop.core import audit
from cityloop.core.errors import NotFound, ValidationFailed
from cityloop.core.permissions import Principal
from cityloop.core.validation import clean_lines

Actor = Principal | audit.Actor | None
PRIMARY_SCHEME = "CJT214-2007"
KINDS = {"部件": "component", "事件": "event", "component": "component", "event": "event"}
KIND_LETTERS = {"component": "BJ", "event": "SJ"}
HANDLERS = ("department", "street", "enforcement", "manual")
# When a CSV row names no handler: street-order and advertising events go to the enforcement squadron,
# city-appearance events to the street/town; anything else waits for the dispatcher (or a routing rule).
HANDLER_BY_MAJOR = (("街面秩序", "enforcement"), ("宣传广告", "enforcement"), ("市容环境", "street"))
EDITABLE = {
    "name",
    "name_en",
    "handler",
    "handler_unit",
    "deadlines",
    "working_hours",
    "duplicate_radius_m",
    "duplicate_window_hours",
    "active",
    "sort_order",
}


def category_code(kind: str, minor_code: str, scheme: str) -> str:
    base = f"{KIND_LETTERS[kind]}{minor_code}"
    return base if scheme == PRIMARY_SCHEME else f"{base}@{scheme}"


def scheme_of(source: str) -> str:
    """The scheme a ``source`` cell starts with: "GBT30428.2-2013(partial…) | …" → "GBT30428.2-2013"."""
    head = source.split("|", 1)[0].strip()
    return head.split("(", 1)[0].split(" ", 1)[0].strip() or PRIMARY_SCHEME


def list_categories(session: Session, *, include_inactive: bool = False) -> Sequence[Category]:
    stmt = select(Category)
    if not include_inactive:
        stmt = stmt.where(Category.active.is_(True))
    return session.execute(stmt.order_by(Category.kind, Category.sort_order, Category.code)).scalars().all()


@dataclass(frozen=True)
class Leaf:
    """What every report needs of its category; read from memory (``cache``), not the database."""

    id: int
    code: str
    name: str
    kind: str
    major_name: str
    handler: str
    handler_unit: str | None
    deadlines: dict[str, Any]
    working_hours: bool
    duplicate_radius_m: int
    duplicate_window_hours: int


def _load_leaves(session: Session) -> dict[str, Leaf]:
    return {
        c.code: Leaf(
            c.id,
            c.code,
            c.name,
            c.kind,
            c.major_name,
            c.handler,
            c.handler_unit,
            c.deadlines,
            c.working_hours,
            c.duplicate_radius_m,
            c.duplicate_window_hours,
        )
        for c in list_categories(session)
    }


_LEAVES = TableCache(Category, _load_leaves)


def leaves(session: Session) -> dict[str, Leaf]:
    """Every active category by code, from the per-process cache (rebuilt when the table changes)."""
    return _LEAVES.get(session)


def leaf(session: Session, *, code: str) -> Leaf:
    """An active category by code, from the per-process cache (404 when unknown or inactive)."""
    found = leaves(session).get(code)
    if found is None:
        raise NotFound("cases.error.category_unknown", category=code)
    return found


def get_by_code(session: Session, *, code: str) -> Category:
    cat = session.execute(select(Category).where(Category.code == code)).scalar_one_or_none()
    if cat is None or not cat.active:
        raise NotFound("cases.error.category_unknown", category=code)
    return cat


def _check(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "handler" in out and out["handler"] not in HANDLERS:
        raise ValidationFailed(
            "cases.error.handler_unknown", handler=out["handler"], allowed=", ".join(HANDLERS)
        )
    if out.get("handler") == "department" and not out.get("handler_unit"):
        raise ValidationFailed("cases.error.handler_unit_missing")
    if "deadlines" in out:
        try:
            out["deadlines"] = normalise_deadlines(out["deadlines"])
        except (TypeError, ValueError) as exc:
            raise ValidationFailed("cases.error.deadlines_invalid", reason=str(exc)) from exc
    for key in ("duplicate_radius_m", "duplicate_window_hours"):
        if key in out and not (0 <= int(out[key]) <= 100_000):
            raise ValidationFailed("cases.error.out_of_range", field=key)
    return out


def create_category(
    session: Session,
    *,
    actor: Actor,
    kind: str,
    major_code: str,
    major_name: str,
    minor_code: str,
    name: str,
    scheme: str = PRIMARY_SCHEME,
    **settings: Any,
) -> Category:
    kind_value = KINDS.get(kind)
    if kind_value is None:
        raise ValidationFailed("cases.error.kind_unknown", kind=kind)
    unknown = set(settings) - EDITABLE - {"source"}
    if unknown:
        raise ValidationFailed("error.unknown_field", field=", ".join(sorted(unknown)))
    values = _check({"deadlines": {}, **settings})
    cat = Category(
        code=category_code(kind_value, minor_code, scheme),
        scheme=scheme,
        kind=kind_value,
        major_code=major_code,
        major_name=major_name,
        minor_code=minor_code,
        name=name,
        **values,
    )
    session.add(cat)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="case_category",
        entity_id=cat.id,
        after=audit.snapshot(cat),
    )
    return cat


def update_category(session: Session, *, actor: Actor, category: Category, **changes: Any) -> Category:
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValidationFailed("error.unknown_field", field=", ".join(sorted(unknown)))
    before = audit.snapshot(category)
    merged = _check({"handler": category.handler, "handler_unit": category.handler_unit, **changes})
    for key, value in merged.items():
        setattr(category, key, value)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update",
        entity_type="case_category",
        entity_id=category.id,
        before=before,
        after=audit.snapshot(category),
    )
    return category


# --- CSV import -------------------------------------------------------------------------------------

REQUIRED_COLUMNS = ("kind", "major_code", "major_name", "minor_code", "minor_name")
OPTIONAL_NUMBERS = {
    "dispatch_minutes": ("normal", "dispatch_minutes"),
    "register_minutes": ("normal", "register_minutes"),
    "handle_hours": ("normal", "handle_hours"),
    "verify_hours": ("normal", "verify_hours"),
}


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0  # rows naming a major class only


def _row_settings(row: dict[str, str], line: int) -> dict[str, Any]:
    """Handling settings a CSV row may carry (all optional columns)."""
    out: dict[str, Any] = {}
    handler = (row.get("handler") or "").strip()
    if handler:
        out["handler"] = handler
        out["handler_unit"] = (row.get("handler_unit") or "").strip() or None
    deadlines: dict[str, dict[str, float]] = {}
    try:
        for column, (urgency, key) in OPTIONAL_NUMBERS.items():
            if (row.get(column) or "").strip():
                deadlines.setdefault(urgency, {})[key] = float(row[column])
        for column in ("duplicate_radius_m", "duplicate_window_hours"):
            if (row.get(column) or "").strip():
                out[column] = int(float(row[column]))
    except ValueError as exc:
        raise ValidationFailed("cases.error.csv_line", line=line, reason=str(exc)) from exc
    if deadlines:
        out["deadlines"] = deadlines
    return out


def _default_handler(major_name: str) -> str:
    return next((h for key, h in HANDLER_BY_MAJOR if key in major_name), "manual")


def parse_csv(path: Path) -> list[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(clean_lines(fh))
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValidationFailed("cases.error.csv_columns", columns=", ".join(missing))
        return [(i, row) for i, row in enumerate(reader, start=2)]


def import_rows(
    session: Session, *, actor: Actor, rows: Iterable[tuple[int, dict[str, str]]], scheme: str | None = None
) -> ImportResult:
    """Create or update leaves by code; all rows are checked before the first is written."""
    planned: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    skipped = 0
    for line, row in rows:
        kind = KINDS.get((row.get("kind") or "").strip())
        if kind is None:
            raise ValidationFailed(
                "cases.error.csv_line", line=line, reason=f"unknown kind {row.get('kind')!r}"
            )
        row_scheme = (row.get("scheme") or "").strip() or scheme_of(row.get("source") or "")
        if scheme and row_scheme != scheme:
            continue
        minor = (row.get("minor_code") or "").strip()
        name = (row.get("minor_name") or "").strip()
        if (
            not minor
        ):  # a major class with no leaf (e.g. 21 扩展事件, "city-defined"): nothing to report under
            skipped += 1
            continue
        if not name or not (row.get("major_code") or "").strip():
            raise ValidationFailed("cases.error.csv_line", line=line, reason="code or name missing")
        ident: dict[str, Any] = {
            "kind": kind,
            "major_code": row["major_code"].strip(),
            "major_name": (row.get("major_name") or "").strip(),
            "minor_code": minor,
            "name": name,
            "scheme": row_scheme,
        }
        explicit = _check(_row_settings(row, line))
        ident["source"] = (row.get("source") or "")[:300] or None
        planned[category_code(kind, minor, row_scheme)] = (ident, explicit)
    existing = {c.code: c for c in session.execute(select(Category)).scalars()}
    result = ImportResult(skipped=skipped)
    for order, (code, (ident, settings)) in enumerate(planned.items()):
        current = existing.get(code)
        if current is None:
            defaults = {"handler": _default_handler(ident["major_name"]), **settings}
            create_category(session, actor=actor, sort_order=order, **ident, **defaults)
            result.created.append(code)
            continue
        # An existing leaf keeps what an administrator set, unless the file states it explicitly.
        changes = {k: v for k, v in settings.items() if getattr(current, k) != v}
        if current.name != ident["name"]:
            changes["name"] = ident["name"]
        if changes:
            update_category(session, actor=actor, category=current, **changes)
            result.updated.append(code)
        else:
            result.unchanged += 1
    return result


def import_csv(session: Session, *, actor: Actor, path: Path, scheme: str | None = None) -> ImportResult:
    return import_rows(session, actor=actor, rows=parse_csv(path), scheme=scheme)
