"""Tokens that end: an expiry per token, refused once past it; refused for a locked or disabled account,
even from the per-process cache; ``tokens list`` shows every token but never a token itself."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from cityloop.cli import app
from cityloop.core import authcache
from cityloop.core.audit import Actor
from cityloop.core.clock import FrozenClock, now, set_clock
from cityloop.org import service
from cityloop.org.models import User

runner = CliRunner()
ADMIN = Actor("test")


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    authcache.clear()
    yield
    authcache.clear()


def me(client, token: str):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})


def test_a_token_expires_on_time_even_while_cached(client, db) -> None:
    clock = FrozenClock(datetime(2026, 11, 30, 1, 0, tzinfo=UTC))
    set_clock(clock)
    token = service.create_token(db, actor=ADMIN, user=service.get_user(db, username="inspector"), days=1)
    db.commit()
    assert me(client, token).status_code == 200  # now cached
    clock.advance(hours=23, minutes=59)
    assert me(client, token).status_code == 200
    clock.advance(minutes=1)
    r = me(client, token)
    assert (
        r.status_code == 401
        and r.json()["error"]["message"] == "The access token has expired; create a new one."
    )


def test_tokens_expire_after_the_default_unless_told(db) -> None:
    user = service.get_user(db, username="inspector")
    service.create_token(db, actor=ADMIN, user=user, name="default")
    service.create_token(db, actor=ADMIN, user=user, name="forever", days=0)
    rows = {r.name: r for r in service.list_tokens(db, username="inspector")}
    assert abs(rows["default"].expires_at - (now() + timedelta(days=90))) < timedelta(minutes=1)
    assert rows["forever"].expires_at is None


def test_a_locked_accounts_token_is_refused_and_works_again_after_the_lock(client, db) -> None:
    clock = FrozenClock(datetime(2026, 11, 30, 1, 0, tzinfo=UTC))
    set_clock(clock)
    user = service.get_user(db, username="inspector")
    token = service.create_token(db, actor=ADMIN, user=user)
    db.commit()
    assert me(client, token).status_code == 200
    service.update_user(db, actor=ADMIN, user=user, lock_minutes=10)
    db.commit()
    r = me(client, token)
    assert r.status_code == 401 and r.json()["error"]["details"] == {"reason": "account_locked"}
    clock.advance(minutes=10)
    assert me(client, token).status_code == 200


def test_a_disabled_accounts_token_is_refused(client, db) -> None:
    user = service.get_user(db, username="inspector")
    token = service.create_token(db, actor=ADMIN, user=user)
    db.commit()
    assert me(client, token).status_code == 200
    service.update_user(db, actor=ADMIN, user=user, active=False)
    db.commit()
    r = me(client, token)
    assert r.status_code == 401 and r.json()["error"]["details"] == {"reason": "account_disabled"}


def test_a_lock_made_by_another_process_is_seen_within_the_freshness_window(client, db, monkeypatch) -> None:
    token = service.create_token(db, actor=ADMIN, user=service.get_user(db, username="inspector"))
    db.commit()
    assert me(client, token).status_code == 200
    # Straight to the database, as another server process or the CLI would: no event in this process.
    db.connection().execute(
        update(User.__table__)
        .where(User.username == "inspector")
        .values(locked_until=now() + timedelta(hours=1))
    )
    assert me(client, token).status_code == 200  # served from the cache, for at most FRESH_SECONDS
    monkeypatch.setattr(authcache, "FRESH_SECONDS", 0.0)
    assert me(client, token).status_code == 401


def test_tokens_create_days_and_tokens_list(db) -> None:
    made = runner.invoke(
        app, ["tokens", "create", "--username", "operator", "--days", "7", "--name", "scada"]
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    forever = runner.invoke(
        app, ["tokens", "create", "--username", "operator", "--days", "0", "--name", "bridge"]
    )
    revoked = runner.invoke(app, ["tokens", "create", "--username", "citizen", "--name", "old-app"])
    assert runner.invoke(app, ["tokens", "revoke", revoked.stdout.strip()]).exit_code == 0
    listing = runner.invoke(app, ["tokens", "list"])
    assert listing.exit_code == 0, listing.output
    lines = {line.split("│")[2].strip(): line for line in listing.stdout.splitlines() if line.count("│") > 7}
    assert {"scada", "bridge", "old-app"} <= set(lines)
    scada = [c.strip() for c in lines["scada"].split("│")]
    assert scada[3] == "operator" and scada[5] != "never" and scada[8] == "valid"
    assert scada[5].startswith((now() + timedelta(days=7)).astimezone(UTC).strftime("%Y-")), scada
    assert "never" in lines["bridge"] and "revoked" in lines["old-app"]
    for printed in (token, forever.stdout.strip(), revoked.stdout.strip()):
        assert printed not in listing.stdout and printed[4:20] not in listing.stdout
    mine = runner.invoke(app, ["tokens", "list", "--username", "citizen"])
    assert "old-app" in mine.stdout and "scada" not in mine.stdout


def test_tokens_list_shows_when_a_token_was_last_used(client, db) -> None:
    made = runner.invoke(app, ["tokens", "create", "--username", "operator", "--name", "probe"])
    token = made.stdout.strip()
    before = runner.invoke(app, ["tokens", "list", "--username", "operator"]).stdout
    assert [c.strip() for c in next(x for x in before.splitlines() if "probe" in x).split("│")][6] == "-"
    assert me(client, token).status_code == 200
    after = runner.invoke(app, ["tokens", "list", "--username", "operator"]).stdout
    assert [c.strip() for c in next(x for x in after.splitlines() if "probe" in x).split("│")][6] != "-"


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--days", "-1"], "--days must be between 0"),
        (["--days", "99999"], "--days must be between 0"),
        (["--username", "nobody"], "nobody"),
    ],
)
def test_tokens_create_refuses_bad_input_with_one_line(db, args, fragment) -> None:
    base = ["tokens", "create"] + ([] if "--username" in args else ["--username", "operator"])
    r = runner.invoke(app, base + args)
    assert r.exit_code == 2 and fragment in r.output and len(r.output.strip().splitlines()) == 1
    assert r.stdout.strip() == "" or not r.stdout.strip().startswith("clp_")


def test_tokens_list_of_an_unknown_account_exits_2(db) -> None:
    r = runner.invoke(app, ["tokens", "list", "--username", "nobody"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
