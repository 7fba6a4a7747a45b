"""The per-process token → principal cache: fast, and never lets a revoked token or disabled account in."""

from collections.abc import Iterator

import pytest
from sqlalchemy import update

from cityloop.core import authcache
from cityloop.core.audit import Actor
from cityloop.org import service
from cityloop.org.models import ApiToken, User

ADMIN = Actor("test")


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    authcache.clear()
    yield
    authcache.clear()


def _token(db, username: str) -> str:
    token = service.create_token(db, actor=ADMIN, user=service.get_user(db, username=username), name="t")
    db.commit()
    return token


def _me(client, token: str) -> int:
    return int(client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code)


def test_a_token_is_looked_up_once_then_served_from_memory(client, db) -> None:
    token = _token(db, "inspector")
    assert _me(client, token) == 200
    assert len(authcache._entries) == 1
    principal = next(iter(authcache._entries.values()))[0]
    assert principal.username == "inspector"
    assert _me(client, token) == 200
    assert next(iter(authcache._entries.values()))[0] is principal  # not looked up again


def test_a_revoked_token_is_refused_on_the_next_request(client, db) -> None:
    token = _token(db, "inspector")
    assert _me(client, token) == 200
    service.revoke_token(db, actor=ADMIN, token=token)
    db.commit()
    assert _me(client, token) == 401


def test_a_disabled_account_is_refused_on_the_next_request(client, db) -> None:
    token = _token(db, "inspector")
    assert _me(client, token) == 200
    service.update_user(db, actor=ADMIN, user=service.get_user(db, username="inspector"), active=False)
    db.commit()
    assert _me(client, token) == 401


def test_a_bulk_update_of_tokens_also_empties_the_cache(client, db) -> None:
    token = _token(db, "inspector")
    assert _me(client, token) == 200
    db.execute(update(ApiToken).values(revoked_at=ApiToken.created_at))
    db.commit()
    assert _me(client, token) == 401


def test_a_change_rolled_back_keeps_nothing_stale(client, db) -> None:
    token = _token(db, "inspector")
    assert _me(client, token) == 200
    nested = db.begin_nested()
    db.execute(update(User).where(User.username == "inspector").values(role="citizen"))
    nested.rollback()
    assert _me(client, token) == 200
    assert next(iter(authcache._entries.values()))[0].role.value == "inspector"


def test_a_change_made_elsewhere_is_seen_once_the_entry_is_stale(client, db, monkeypatch) -> None:
    """Another process (the CLI, another worker) revoking a token: no event here, only the short TTL."""
    token = _token(db, "inspector")
    assert _me(client, token) == 200
    # Bypass the ORM session events entirely, as another process would.
    db.connection().execute(update(ApiToken.__table__).values(revoked_at=ApiToken.created_at))
    assert _me(client, token) == 200  # still cached: at most FRESH_SECONDS
    monkeypatch.setattr(authcache, "FRESH_SECONDS", 0.0)
    assert _me(client, token) == 401


def test_cli_revoke(db) -> None:
    from typer.testing import CliRunner

    from cityloop.cli import app

    token = _token(db, "inspector")
    out = CliRunner().invoke(app, ["tokens", "revoke", token])
    assert out.exit_code == 0, out.output
    again = CliRunner().invoke(app, ["tokens", "revoke", "nonsense"])
    assert again.exit_code == 2
