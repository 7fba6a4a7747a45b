"""The authorization matrix: every route of the app against the table in tests/authz/table.py.

- Every route (OpenAPI operations and the pages left out of it) has a row, and every row a route.
- docs/authorization.md is the table as rendered now.
- Reads: every GET route × every caller (the ten roles' demo accounts, a second street, three extra
  accounts, nobody) with real in-scope and out-of-scope records: allowed in scope → the documented 2xx/3xx
  and the record shown; not allowed → 401/403 (pages: 303 to /login); out of scope → 403/404 and nothing of
  the record; lists hold no out-of-scope row and do hold an in-scope one.
- Writes: the same request without the CSRF token from a signed-in browser, from every caller the row does
  not allow and against every out-of-scope record from those it does → refused, and no table's row count
  or the audit trail moved; then one allowed caller in scope goes through (the request is a real one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.authz import writes as specs
from tests.authz.calls import STATS, Answer, allowed, call, callers, denial, describe, first_seen, sees
from tests.authz.doc import TARGET, render
from tests.authz.table import ROWS, R
from tests.authz.world import Rec, World

READS = [r for r in ROWS if r.safe]
WRITES = [r for r in ROWS if not r.safe]
# Mounted static files (CSS, JS, vendored libraries) are the same for everybody and hold no data.
NOT_ROUTES = {"/static"}


def app_routes() -> tuple[set[str], set[str]]:
    """(every "METHOD path" the app answers, those in its OpenAPI document)."""
    from fastapi import routing
    from starlette.routing import Mount, Route

    from cityloop.app import create_app

    app = create_app()
    found: set[str] = set()
    for ctx in routing.iter_route_contexts(app.routes):
        route = ctx.original_route
        if isinstance(route, Mount):
            assert route.path in NOT_ROUTES, f"a mount nobody has looked at: {route.path}"
            continue
        if isinstance(route, routing.APIRoute | Route):
            found |= {f"{m} {ctx.path}" for m in ctx.methods or () if m != "HEAD"}
    documented = {f"{m.upper()} {p}" for p, ops in app.openapi()["paths"].items() for m in ops}
    return found, documented


def test_every_route_has_a_rule_and_every_rule_a_route() -> None:
    found, documented = app_routes()
    assert documented <= found, f"OpenAPI names routes the app does not have: {sorted(documented - found)}"
    rows = {r.key for r in ROWS}
    missing = sorted(found - rows)
    stale = sorted(rows - found)
    message = [f"add a scope rule for {k} to tests/authz/table.py" for k in missing]
    message += [f"tests/authz/table.py has a rule for {k}, which the app no longer has" for k in stale]
    assert not message, "\n".join(message)
    ids = [r.id for r in ROWS]
    assert len(ids) == len(set(ids)), "two rows with the same id: give the variants names"
    for r in WRITES:
        assert r.id in specs.SPECS, f"no request for {r.id}: add one to tests/authz/writes.py"


def test_the_document_is_current() -> None:
    assert TARGET.exists() and TARGET.read_text(encoding="utf-8") == render(), (
        "docs/authorization.md is out of date: run `.venv/bin/python -m tests.authz.doc`"
    )


# --- reads ----------------------------------------------------------------------------------------------


def _leaks(who: Any, rule: R, rec: Rec | None, a: Answer, what: str = "text") -> list[str]:
    """Text of ``rec`` in an answer to a caller who may not see it (a refusal to act on a record may show
    what the caller may read: a unit's page re-rendered with the refusal)."""
    if rec is None or rule.scope is None or rec.facts.get("username") == who.username:
        return []  # unscoped records; one's own account (its name is on every page of the caller)
    texts = () if rule.scope.visible(who, rec.facts) else rec.hide
    key = rule.scope.hidden_key
    texts += tuple(rec.facts.get(key, ())) if key else ()
    shown = [t for t in texts if t and a.has(t)]
    return [f"LEAK {who.username} ({who.role}) {rule.id}: {what} of {rec.label}: {shown}"] if shown else []


def _never(world: World, who: Any, rule: R, a: Answer) -> list[str]:
    """Public views: the texts no caller may be shown, of every record of the pool."""
    if rule.scope is None or rule.scope.never is None or rule.on is None:
        return []
    out: list[str] = []
    for rec in world.pools[rule.on]:
        texts = tuple(rec.facts.get(rule.scope.never, ()))
        shown = [t for t in texts if t and a.has(t)]
        if shown:
            out.append(f"LEAK {who.username} ({who.role}) {rule.id}: private text of {rec.label}: {shown}")
    return out


def check_read(world: World, rule: R) -> list[str]:
    problems: list[str] = []
    pool: list[Rec | None] = list(world.pools[rule.on]) if rule.on else [None]
    per_record = any("{" in q for q in rule.query.values())
    for who in callers(world):
        if not allowed(rule, who):
            rec = first_seen(rule, who, pool) if rule.on else None  # type: ignore[arg-type]
            a = call(world, rule, who, rec)
            want = denial(rule, who) | ({404} if rule.scope and not sees(rule, who, rec) else set())
            STATS["denied"] += 1
            if a.status not in want:
                problems.append(describe(who, rule, rec, sorted(want), a))
            elif a.status == 303 and not a.location.startswith("/login"):
                problems.append(describe(who, rule, rec, "a redirect to /login", a))
            if rec is not None:
                problems += _leaks(who, rule, rec, a)
            continue
        if rule.scope is None:
            a = call(world, rule, who, pool[0])
            STATS["allowed"] += 1
            if a.status != rule.ok:
                problems.append(describe(who, rule, pool[0], rule.ok, a))
            continue
        if rule.lists:
            shared = None if per_record else call(world, rule, who, None)
            for rec in pool:
                assert rec is not None
                a = call(world, rule, who, rec) if per_record else shared
                assert a is not None
                if a.status != rule.ok:
                    problems.append(describe(who, rule, rec, rule.ok, a))
                    break
                listed = a.ids(rule.ids[0]) if rule.ids else set()
                if sees(rule, who, rec):
                    STATS["list in scope"] += 1
                    shown = rec.params[rule.ids[1]] in listed if rule.ids else any(a.has(t) for t in rec.show)
                    if rule.shows and not shown:
                        problems.append(f"{who.username} ({who.role}) {rule.id}: the list lacks {rec.label}")
                else:
                    STATS["list out of scope"] += 1
                    problems += _leaks(who, rule, rec, a, "list row")
                    if rule.ids and rec.params[rule.ids[1]] in listed:
                        problems.append(f"LEAK {who.username} ({who.role}) {rule.id}: lists {rec.label}")
                problems += _never(world, who, rule, a)
            continue
        for rec in pool:
            assert rec is not None
            a = call(world, rule, who, rec)
            if sees(rule, who, rec):
                STATS["in scope"] += 1
                if a.status != rule.ok:
                    problems.append(describe(who, rule, rec, rule.ok, a))
                elif rule.shows and rec.show and not any(a.has(t) for t in rec.show):
                    problems.append(f"{who.username} ({who.role}) {rule.id}: {rec.label} not shown")
            else:
                STATS["out of scope"] += 1
                if a.status not in rule.refused:
                    problems.append(describe(who, rule, rec, list(rule.refused), a))
                problems += _leaks(who, rule, rec, a)
            problems += _never(world, who, rule, a)
    return problems


@pytest.mark.parametrize("rule", READS, ids=lambda r: r.id)
def test_read(matrix: World, rule: R) -> None:
    STATS["read routes"] += 1
    problems = check_read(matrix, rule)
    assert not problems, f"{rule.id}:\n" + "\n".join(problems)


# --- writes ---------------------------------------------------------------------------------------------


def counts(world: World) -> dict[str, int]:
    """Rows of every table, in one query."""
    from cityloop.core.db import Base

    tables = sorted(Base.metadata.tables)
    sql = " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM {t}" for t in tables)
    with world.factory() as s:
        return {name: n for name, n in s.execute(text(sql))}


def audit_count(world: World) -> int:
    with world.factory() as s:
        return int(s.execute(text("SELECT COUNT(*) FROM audit_records")).scalar_one())


def check_write(world: World, rule: R) -> list[str]:
    spec = specs.SPECS[rule.id]
    problems: list[str] = []
    pool: list[Rec | None] = list(world.pools[rule.on]) if rule.on else [None]
    before = counts(world)

    def refused(who: Any, rec: Rec | None, want: set[int] | tuple[int, ...], **kw: Any) -> None:
        audit = audit_count(world)
        a = call(world, rule, who, rec, spec.body(world, rec, who), **kw)
        if a.status not in want:
            problems.append(describe(who, rule, rec, sorted(want), a))
        if audit_count(world) != audit:
            problems.append(f"{who.username} ({who.role}) {rule.id}: refused, but the audit trail grew")
        if rec is not None:
            problems.extend(_leaks(who, rule, rec, a))

    # A signed-in browser's request without the CSRF token: refused before anything else.
    admin = world.accounts["admin"]
    refused(admin, pool[0], {403}, csrf=False, browser=True)
    STATS["csrf"] += 1
    for who in callers(world):
        if not allowed(rule, who):
            rec = first_seen(rule, who, pool) if rule.on else None  # type: ignore[arg-type]
            want = denial(rule, who) | ({404} if rule.scope and not sees(rule, who, rec) else set())
            refused(who, rec, want)
            STATS["write refused (role)"] += 1
            continue
        for rec in pool:
            if rec is not None and not sees(rule, who, rec):
                refused(who, rec, rule.refused)
                STATS["write refused (scope)"] += 1
    after = counts(world)
    changed = {t: (before[t], after[t]) for t in before if before[t] != after[t] and t not in spec.may_change}
    if changed:
        problems.append(f"{rule.id}: refused requests changed row counts {changed}")
    if spec.control is not None:
        problems += control(world, rule, spec, pool)
    return problems


def control(world: World, rule: R, spec: specs.Spec, pool: list[Rec | None]) -> list[str]:
    """One allowed caller in scope: the request the others were refused is a real one that goes through."""
    # A caller with a scope of its own first: its success is the rule's "in scope" side, not a district
    # role's seeing everything.
    names = [spec.by] if spec.by else [u for u, w in world.accounts.items() if allowed(rule, w)]
    names.sort(key=lambda u: world.accounts[u].district)
    for name in names:
        who = world.accounts[name]
        rec = next((r for r in pool if r is None or sees(rule, who, r)), None) if rule.on else None
        if rule.on and rec is None:
            continue
        a = call(world, rule, who, rec, spec.body(world, rec, who))
        STATS["write controls"] += 1
        if spec.control == "ok" and a.status != rule.ok:
            return [describe(who, rule, rec, f"{rule.ok} (the control)", a) + f" {a.text[:300]}"]
        if spec.control == "past-scope" and (a.status in (401, 403, 404) or a.status >= 500):
            return [describe(who, rule, rec, "not refused (the control)", a) + f" {a.text[:300]}"]
        return []
    return [f"{rule.id}: no allowed caller with an in-scope record for the control"]


@pytest.mark.parametrize("rule", WRITES, ids=lambda r: r.id)
def test_write(matrix: World, rule: R) -> None:
    STATS["write routes"] += 1
    problems = check_write(matrix, rule)
    assert not problems, f"{rule.id}:\n" + "\n".join(problems)


@pytest.fixture(scope="module", autouse=True)
def _figures() -> Any:
    """With AUTHZ_FIGURES=FILE, the counts of what the matrix checked are written there (per process)."""
    STATS.clear()
    yield
    target = os.environ.get("AUTHZ_FIGURES")
    if target:
        import json

        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        Path(f"{target}.{worker}").write_text(json.dumps(dict(STATS), indent=1))
