"""Sign-in throttling: exact under concurrency on both databases, names that do not exist throttled alike,
backoff instead of a lock-out, and an attacker at one address never keeps the owner out elsewhere."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from cityloop.config import get_settings
from cityloop.core.clock import FrozenClock, set_clock
from cityloop.core.errors import TooManyAttempts, Unauthorized
from cityloop.org.demo import DEMO_PASSWORD
from tests.conftest import IS_PG

ATTEMPTS = 40


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    set_clock(frozen)
    yield frozen
    set_clock(None)


@pytest.fixture
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rules below do not depend on argon2; hundreds of real checks (~50 ms each) only cost time."""
    from cityloop.org import service

    monkeypatch.setattr(
        service, "verify_password", lambda hashed, password: hashed is not None and password == DEMO_PASSWORD
    )


def attempt(db, username: str, password: str, address: str) -> str:
    """One sign-in through the service: "ok", "wrong" (the password was checked) or "wait"."""
    from cityloop.org import service

    try:
        service.authenticate(db, username=username, password=password, address=address)
    except TooManyAttempts:
        db.rollback()
        return "wait"
    except Unauthorized:
        db.rollback()
        return "wrong"
    db.commit()
    return "ok"


# --- exact under concurrency -------------------------------------------------------------------


def _burst(monkeypatch: pytest.MonkeyPatch, username: str, addresses: list[str]) -> tuple[int, list[str]]:
    """ATTEMPTS wrong passwords at once, each on its own thread and database connection; returns how many
    passwords were checked and what each attempt was told."""
    from cityloop.core.db import new_session
    from cityloop.org import service

    checks: list[int] = []
    real_verify = service.verify_password

    def counting_verify(password_hash: str | None, password: str) -> bool:
        checks.append(1)  # list.append is atomic under the GIL
        return real_verify(password_hash, password)

    monkeypatch.setattr(service, "verify_password", counting_verify)
    start = threading.Barrier(ATTEMPTS)
    outcomes: list[str] = []

    def run(address: str) -> None:
        session = new_session(write=True)
        try:
            start.wait()
            outcomes.append(attempt(session, username, "wrong-password", address))
        except Exception as exc:  # recorded, so that the assertion shows it
            outcomes.append(repr(exc))
        finally:
            session.close()

    threads = [threading.Thread(target=run, args=(addresses[i % len(addresses)],)) for i in range(ATTEMPTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return len(checks), outcomes


@pytest.mark.parametrize("username", ["street2", "no-such-account"], ids=["known", "unknown"])
def test_concurrent_wrong_passwords_get_exactly_the_allowance_checked(
    live_db: str, monkeypatch: pytest.MonkeyPatch, username: str
) -> None:
    """The probe found 17 of 20 concurrent attempts checked against a limit of 5 on PostgreSQL. On the
    wall clock: attempts that queue for a row must not be judged by the moment they arrived."""
    allowance = get_settings().login_max_failures
    checked, outcomes = _burst(monkeypatch, username, ["203.0.113.7"])
    print(f"{'PostgreSQL' if IS_PG else 'SQLite'}: {checked} of {ATTEMPTS} attempts checked ({username})")
    assert checked == allowance
    assert sorted(outcomes) == ["wait"] * (ATTEMPTS - allowance) + ["wrong"] * allowance


def test_concurrent_attempts_from_many_addresses_meet_the_account_wide_allowance(
    live_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    allowance = get_settings().login_account_max_failures
    addresses = [f"198.51.100.{i}" for i in range(1, ATTEMPTS + 1)]  # every attempt from its own address
    checked, outcomes = _burst(monkeypatch, "street2", addresses)
    assert checked == allowance
    assert sorted(outcomes) == ["wait"] * (ATTEMPTS - allowance) + ["wrong"] * allowance


# --- the rules, one attempt at a time -----------------------------------------------------------


def test_backoff_doubles_up_to_its_cap_and_a_quiet_key_starts_over(
    db, clock: FrozenClock, quick_checks: None
) -> None:
    settings = get_settings()
    for _ in range(settings.login_max_failures):
        assert attempt(db, "street2", "wrong", "203.0.113.9") == "wrong"
    waits = []
    for _ in range(8):
        try:
            from cityloop.org import service

            service.authenticate(db, username="street2", password="wrong", address="203.0.113.9")
        except TooManyAttempts as exc:
            db.rollback()
            wait = exc.details["retry_after"]
            waits.append(wait)
            clock.advance(seconds=wait - 1)
            assert attempt(db, "street2", "wrong", "203.0.113.9") == "wait"  # not a second early
            clock.advance(seconds=1)
            assert attempt(db, "street2", "wrong", "203.0.113.9") == "wrong"
    base, cap = settings.login_backoff_seconds, settings.login_backoff_max_seconds
    assert waits == [min(cap, base * 2**i) for i in range(8)]
    clock.advance(minutes=settings.login_forget_minutes, seconds=1)
    assert attempt(db, "street2", DEMO_PASSWORD, "203.0.113.9") == "ok"


def test_unknown_names_are_throttled_like_accounts(db, clock: FrozenClock, quick_checks: None) -> None:
    for _ in range(get_settings().login_max_failures):
        assert attempt(db, "ghost-account", "guess", "203.0.113.10") == "wrong"
    assert attempt(db, "ghost-account", "guess", "203.0.113.10") == "wait"
    assert attempt(db, "GHOST-account ", "guess", "203.0.113.10") == "wait"  # the name as it would match


def test_one_address_spraying_many_names_is_throttled(db, clock: FrozenClock, quick_checks: None) -> None:
    allowance = get_settings().login_address_max_failures
    for i in range(allowance):
        assert attempt(db, f"name{i}", "guess", "203.0.113.11") == "wrong"
    assert attempt(db, "street", DEMO_PASSWORD, "203.0.113.11") == "wait"
    assert attempt(db, "street", DEMO_PASSWORD, "203.0.113.12") == "ok"  # elsewhere: unaffected


def test_an_attacker_at_one_address_never_keeps_the_owner_out(
    db, clock: FrozenClock, quick_checks: None
) -> None:
    """Six hours of guessing from one address: a handful of checks, and the owner signs in elsewhere
    at once."""
    settings = get_settings()
    checked = 0
    for _ in range(6 * 60):  # one try a minute for six hours
        if attempt(db, "street2", "guess", "203.0.113.66") == "wrong":
            checked += 1
        clock.advance(minutes=1)
    # Free attempts, then one per backoff step (30 s doubling to 15 min): about 30 in six hours.
    bound = settings.login_max_failures + 6 * 3600 // settings.login_backoff_max_seconds + 6
    assert settings.login_max_failures < checked <= bound
    assert attempt(db, "street2", DEMO_PASSWORD, "192.0.2.10") == "ok"


def test_many_attacking_addresses_make_the_owner_wait_a_bounded_time(
    db, clock: FrozenClock, quick_checks: None
) -> None:
    """The documented trade-off: once the account-wide allowance is spent from several addresses, every
    attempt waits the account's backoff — the owner's too — and the owner's success clears it."""
    settings = get_settings()
    per_address = settings.login_max_failures
    attackers = settings.login_account_max_failures // per_address
    for n in range(attackers):
        for _ in range(per_address):
            assert attempt(db, "street2", "guess", f"203.0.113.{100 + n}") == "wrong"
    assert attempt(db, "street2", DEMO_PASSWORD, "192.0.2.10") == "wait"
    clock.advance(seconds=settings.login_backoff_seconds)
    assert attempt(db, "street2", DEMO_PASSWORD, "192.0.2.10") == "ok"
    assert attempt(db, "street2", "guess", "203.0.113.200") == "wrong"  # the account starts over


def test_an_administrator_unlocks_an_account_at_once(client, db, clock: FrozenClock, token_for) -> None:
    for _ in range(get_settings().login_max_failures):
        attempt(db, "street2", "guess", "testclient")
    assert attempt(db, "street2", DEMO_PASSWORD, "testclient") == "wait"
    r = client.patch("/api/v1/users/street2", json={"unlock": True}, headers=token_for("admin"))
    assert r.status_code == 200
    assert attempt(db, "street2", DEMO_PASSWORD, "testclient") == "ok"


def test_an_administrators_lock_refuses_even_the_right_password(client, db, token_for) -> None:
    r = client.patch("/api/v1/users/street2", json={"lock_minutes": 30}, headers=token_for("admin"))
    assert r.status_code == 200 and r.json()["locked_until"] is not None
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    refused = client.post("/login", data={"username": "street2", "password": DEMO_PASSWORD, "csrf": csrf})
    assert refused.status_code == 403 and "已被锁定" in refused.text
    wrong = client.post("/login", data={"username": "street2", "password": "nope-nope", "csrf": csrf})
    assert wrong.status_code == 401 and "锁定" not in wrong.text  # a guesser learns nothing of the lock


# --- through the web form -------------------------------------------------


def _post_login(client, username: str, password: str, **headers: str):
    page = client.get("/login", headers=headers)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf": csrf},
        headers=headers,
        follow_redirects=False,
    )


def test_the_sign_in_form_says_when_to_try_again_in_english_too(client, clock: FrozenClock) -> None:
    for _ in range(get_settings().login_max_failures):
        assert _post_login(client, "street2", "guess", **{"Accept-Language": "en"}).status_code == 401
    r = _post_login(client, "street2", DEMO_PASSWORD, **{"Accept-Language": "en"})
    assert r.status_code == 429
    assert "Too many sign-in attempts. Try again in 30 seconds (after 10:00:30)." in r.text
