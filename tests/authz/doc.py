"""docs/authorization.md, written from the table: ``.venv/bin/python -m tests.authz.doc``."""

from __future__ import annotations

from pathlib import Path

from tests.authz.scopes import ANON, DISTRICT, NAMED_SETS, ROLES, SCOPES
from tests.authz.table import ROWS, R
from tests.authz.world import DEMO_ACCOUNTS, EXTRA_ACCOUNTS

TARGET = Path(__file__).resolve().parents[2] / "docs" / "authorization.md"

INTRO = """\
# Authorization: who may call what, and on which records

Generated from `tests/authz/table.py` by `.venv/bin/python -m tests.authz.doc`; do not edit by hand.
`tests/authz/test_matrix.py` holds the running application to it, on SQLite and on PostgreSQL:

- a route of the app without a row fails the test, and so does a row without a route;
- every GET row is called by every caller below, on records in and out of that caller's scope;
- every write row is tried without the CSRF token from a signed-in browser, by every caller it does not
  allow, and by every allowed caller on every record out of its scope — each must be refused and change
  no table's row count and no audit record; then an allowed caller in scope goes through.

Refusals: not signed in → 401 (API) or a redirect to /login (pages); signed in but not allowed → 403
(404 where the caller cannot see the record either); out of scope → 403 or 404 (404: as if absent) with
nothing of the record in the answer. A list holds no out-of-scope row. Why the table lives in tests/ and
not in the code: [decision 0017](decisions/0017-authorization-matrix.md).
"""


def _roles(roles: frozenset[str]) -> str:
    return ", ".join(r for r in (*ROLES, ANON) if r in roles)


def _who(rule: R) -> str:
    text = (NAMED_SETS.get(rule.who) or _roles(rule.who)) if rule.who else "nobody"
    return text + (f" + {rule.also.text}" if rule.also else "")


def _scope(rule: R) -> str:
    if rule.scope is None:
        return f"— ({rule.on})" if rule.on else "—"
    what = f"{rule.scope.name} of {rule.on}" + (" (list)" if rule.lists else "")
    if not rule.lists and rule.refused != (403, 404):
        what += f"; out of scope: {'/'.join(map(str, rule.refused))}"
    return what


def render() -> str:
    lines = [INTRO, "## Callers", ""]
    lines.append(
        f"Roles: {', '.join(ROLES)}; and `{ANON}`. District roles ({_roles(DISTRICT)}) see the whole "
        "district whatever unit they are filed under; other staff their unit's subtree (`units.path` "
        "prefix); a citizen what they reported."
    )
    lines += ["", "Role sets named below:", ""]
    lines += [f"- *{name}*: {_roles(roles)}" for roles, name in NAMED_SETS.items()]
    lines += ["", f"The matrix calls with the demo accounts ({', '.join(DEMO_ACCOUNTS)}), nobody, and:", ""]
    lines += [f"- `{u}` ({role}, unit {unit}): {note}" for u, role, unit, note in EXTRA_ACCOUNTS]
    lines += ["", "## Scopes", ""]
    lines += [f"- **{s.name}**: {s.text}" for s in SCOPES]
    sections = [
        ("JSON API and Open311", [r for r in ROWS if not r.page]),
        ("Pages (left out of the OpenAPI document)", [r for r in ROWS if r.page]),
    ]
    for title, rows in sections:
        lines += ["", f"## {title}", ""]
        lines += ["| Method | Path | Who | Scope | Answer | Note |", "|---|---|---|---|---|---|"]
        for r in rows:
            path = r.path + (f" ({r.variant})" if r.variant else "")
            lines.append(f"| {r.method} | `{path}` | {_who(r)} | {_scope(r)} | {r.ok} | {r.note} |")
    lines += ["", f"{len({r.key for r in ROWS})} routes in {len(ROWS)} rows.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET}")
