"""How the matrix calls a route as one caller and reads the answer: bearer tokens for the API, the signed-in
browser (cookie + CSRF token) for pages, nothing for the anonymous caller."""

from __future__ import annotations

import contextlib
import io
import json
import re
import zipfile
from collections import Counter
from dataclasses import dataclass
from typing import Any

from tests.authz.scopes import ANON, Account
from tests.authz.table import R
from tests.authz.world import Rec, World

STATS: Counter[str] = Counter()


def allowed(rule: R, who: Account) -> bool:
    return who.role in rule.who or (rule.also is not None and rule.also.test(who))


def sees(rule: R, who: Account, rec: Rec | None) -> bool:
    if rule.scope is None or rec is None:
        return True
    return rule.scope.sees(who, rec.facts)


def values(rule: R, rec: Rec | None) -> dict[str, Any]:
    base = dict(rec.params) if rec else {}
    return base | {k: v.format(**base) for k, v in rule.params.items()}


def url_of(rule: R, rec: Rec | None) -> str:
    v = values(rule, rec)
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(v[m.group(1)]), rule.path)


def query_of(rule: R, rec: Rec | None) -> dict[str, str]:
    v = values(rule, rec)
    return {k: q.format(**v) for k, q in rule.query.items()}


@dataclass
class Answer:
    status: int
    location: str
    text: str
    doc: Any = None  # the parsed JSON, when the answer is JSON

    def has(self, marker: str) -> bool:
        return marker in self.text

    def ids(self, where: str) -> set[Any]:
        """Ids listed at ``where`` in the JSON answer: "columns.id", "[].id", "tasks[].id"."""
        items = [self.doc]
        for step in where.split("."):
            many = step.endswith("[]")
            key = step[:-2] if many else step
            items = [i[key] if key else i for i in items if isinstance(i, dict) or not key]
            if many or all(isinstance(i, list) for i in items):
                items = [x for i in items for x in i]
        return set(items)


def text_of(r: Any) -> str:
    ctype = r.headers.get("content-type", "")
    if "spreadsheetml" in ctype or r.content[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
    text = r.content.decode("utf-8", "replace")
    if "json" in ctype and "\\u" in text:
        with contextlib.suppress(ValueError):  # the same text whether the server escaped non-ASCII or not
            text += "\n" + json.dumps(json.loads(text), ensure_ascii=False)
    return text


def call(
    world: World,
    rule: R,
    who: Account,
    rec: Rec | None,
    request: dict[str, Any] | None = None,
    *,
    csrf: bool = True,
    browser: bool | None = None,
) -> Answer:
    """One request; ``browser`` forces the cookie session (the CSRF check), else pages use it."""
    kw = dict(request or {})
    headers = dict(kw.pop("headers", {}))
    use_browser = rule.page if browser is None else browser
    if who.anonymous:
        client = world.api
        use_browser = False
    elif use_browser:
        b = world.browsers[who.username]
        client = b.client
        if not rule.safe and csrf:
            if "data" in kw or "files" in kw:
                kw["data"] = {**kw.get("data", {}), "csrf": b.csrf}
            else:
                headers["X-CSRF-Token"] = b.csrf
    else:
        client = world.api
        headers.update(world.tokens[who.username])
    if rule.page:
        headers.setdefault("accept", "text/html")
    params = {**query_of(rule, rec), **kw.pop("params", {})}
    if client is world.api:
        client.cookies.clear()  # no language or session cookie carried over from another caller
    r = client.request(
        rule.method, url_of(rule, rec), params=params, headers=headers, follow_redirects=False, **kw
    )
    STATS["requests"] += 1
    doc = None
    if "json" in r.headers.get("content-type", ""):
        with contextlib.suppress(ValueError):
            doc = r.json()
    return Answer(r.status_code, r.headers.get("location", ""), text_of(r), doc)


def denial(rule: R, who: Account) -> set[int]:
    """What a caller the rule does not allow gets."""
    if rule.path.startswith("/open311/"):
        return {403}  # Open311 knows api keys, not sign-ins
    if who.anonymous:
        return {303} if rule.page else {401}
    return {403}


def first_seen(rule: R, who: Account, pool: list[Rec]) -> Rec:
    """The record to refuse a caller on: one it could see, so the refusal is about the role."""
    return next((r for r in pool if sees(rule, who, r)), pool[0])


def describe(who: Account, rule: R, rec: Rec | None, wanted: Any, a: Answer) -> str:
    where = f" on {rec.label}" if rec else ""
    return f"{who.username} ({who.role}){where}: wanted {wanted}, got {a.status} {a.location or ''}".rstrip()


def callers(world: World) -> list[Account]:
    return list(world.accounts.values())


ANONYMOUS = ANON
