"""Set-based SQL for the big paths (supervision scan, bulk loads) on both databases.

PostgreSQL gets ``COPY`` and array parameters, SQLite ``executemany`` and ``IN`` lists: on
PostgreSQL a statement with thousands of placeholders costs more to prepare than to run, and
``COPY`` writes tens of thousands of rows in the time a multi-row INSERT writes a few thousand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, ColumnElement, Table, any_, bindparam, func, insert, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from cityloop.core.db import is_postgresql


def table_of(model: Any) -> Table:
    return cast(Table, model.__table__)


def ids_in(session: Session, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """``column IN ids`` as one array parameter on PostgreSQL, a plain IN list elsewhere."""
    if is_postgresql(session):
        return cast(
            ColumnElement[bool], column == any_(bindparam("ids_array", list(ids), type_=ARRAY(BigInteger)))
        )
    return cast(ColumnElement[bool], column.in_(list(ids)))


def uniform(model: Any, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same keys in every row (multi-row statements and COPY need them): a missing value gets
    the column's Python default — scalar or callable, as an ORM insert would — or NULL."""
    table = table_of(model)
    keys = {k for r in rows for k in r}
    for column in table.c:
        if column.key not in keys and column.default is not None and not column.primary_key:
            keys.add(column.key)
    defaults: dict[str, Any] = {}
    for key in keys:
        default = table.c[key].default
        if default is None or not (default.is_scalar or default.is_callable):
            defaults[key] = None
        elif default.is_scalar:
            defaults[key] = getattr(default, "arg", None)
        else:
            defaults[key] = cast(Any, default).arg(None)  # SQLAlchemy wraps it to take a context
    return [{**defaults, **r} for r in rows]


def allocate_ids(session: Session, model: Any, n: int) -> list[int]:
    """``n`` fresh primary keys before inserting, so rows can carry numbers derived from them.

    PostgreSQL draws them from the column's sequence; on SQLite the transaction holds the single
    write lock, so the next ids after the current maximum are ours alone."""
    if n <= 0:
        return []
    table = table_of(model)
    if is_postgresql(session):
        seq = f"pg_get_serial_sequence('{table.name}', 'id')"
        stmt = text(f"SELECT nextval({seq}) FROM generate_series(1, :n)")
        return [int(v) for v in session.execute(stmt, {"n": n}).scalars()]
    top = session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar() or 0
    return list(range(int(top) + 1, int(top) + 1 + n))


def write_rows(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows: ``COPY`` on PostgreSQL, batched executemany on SQLite. Rows either all
    leave ``id`` out or carry ids from :func:`allocate_ids` (never made-up ones: the sequence
    would hand them out again)."""
    if not rows:
        return
    full = uniform(model, rows)
    table = table_of(model)
    if not is_postgresql(session):
        for start in range(0, len(full), 20000):
            session.connection().execute(insert(table), full[start : start + 20000])
        return
    from psycopg import sql
    from psycopg.types.json import Jsonb

    columns = list(full[0])
    json_cols = {c for c in columns if isinstance(table.c[c].type, JSON)}
    raw = session.connection().connection.driver_connection
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with raw.cursor() as cur, cur.copy(copy_sql) as copy:  # type: ignore[union-attr]
        for row in full:
            copy.write_row(
                [Jsonb(row[c]) if c in json_cols and row[c] is not None else row[c] for c in columns]
            )
