"""Sign-in throttling that holds when many attempts arrive at once, on SQLite and on PostgreSQL.

Every attempt is claimed *before* its password is checked. Three keys are claimed, always in this order
(so two attempts never wait for each other's rows in a cycle):

- ``p:<address>|<name>`` — the account at one client address: ``login_max_failures`` attempts, then
  each further one waits ``login_backoff_seconds``, doubling to ``login_backoff_max_seconds``;
- ``a:<name>`` — the account from anywhere: ``login_account_max_failures``, then the same backoff. Only
  attempts of pairs still within their own allowance count here, so one address hammering an account
  can never make its owner wait at another address; it takes that many addresses' worth of attempts;
- ``i:<address>`` — everything one address tries, ``login_address_max_failures`` (spraying names).

``<name>`` is the username as typed (lower-cased), whether or not such an account exists, so probing
names is throttled exactly like guessing passwords. IPv6 addresses count per /64.

Each key is claimed with one ``INSERT … ON CONFLICT DO UPDATE … RETURNING``: it creates the row or
takes its row lock (PostgreSQL; SQLite's single writer does the same for the whole database) and returns
the committed state. The decision is made while those locks are held and written before the transaction
commits, so N concurrent attempts see the counter at 0, 1, 2, … in turn and exactly the allowance gets
through to a password check. A refused attempt changes nothing. A successful sign-in clears its pair and
its account; a key quiet for ``login_forget_minutes`` starts over.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, case, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cityloop.config import get_settings
from cityloop.core.clock import now, to_display
from cityloop.core.errors import TooManyAttempts
from cityloop.org.models import LoginThrottle

T = cast(Table, LoginThrottle.__table__)


@dataclass
class _Key:
    key: str
    allowance: int
    attempts: int = 0
    next_at: float = 0.0
    last_at: float = 0.0


def name_key(username: str) -> str:
    return username.strip().lower()[:80]


def address_key(address: str | None) -> str:
    """The client address as throttled: IPv4 as is, IPv6 by its /64 (one subscriber's whole range)."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def delay(attempts: int, allowance: int) -> float:
    """Seconds to wait after the ``attempts``-th attempt on a key with this allowance."""
    settings = get_settings()
    if attempts < allowance:
        return 0.0
    return float(
        min(
            settings.login_backoff_max_seconds,
            settings.login_backoff_seconds * 2 ** min(attempts - allowance, 30),
        )
    )


def _lock(session: Session, key: _Key, moment: float) -> None:
    """Create the key's row or lock it, and read its committed state (one statement)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(T)
        .values(key=key.key, attempts=0, next_at=0.0, last_at=moment)
        .on_conflict_do_update(index_elements=[T.c.key], set_={"attempts": T.c.attempts})
        .returning(T.c.attempts, T.c.next_at, T.c.last_at)
    )
    attempts, next_at, last_at = session.execute(stmt).one()
    key.attempts, key.next_at, key.last_at = int(attempts), float(next_at), float(last_at)


def claim(session: Session, *, username: str, address: str | None) -> None:
    """Let one sign-in attempt through to its password check, or raise ``TooManyAttempts`` saying when
    to try again. Runs in the caller's transaction, which must commit before the password is checked."""
    settings = get_settings()
    name, where = name_key(username), address_key(address)
    pair = _Key(f"p:{where}|{name}", settings.login_max_failures)
    account = _Key(f"a:{name}", settings.login_account_max_failures)
    origin = _Key(f"i:{where}", settings.login_address_max_failures)
    keys = (pair, account, origin)
    for key in keys:
        _lock(session, key, now().timestamp())
    # The time of the decision is read once the rows are ours: an attempt that waited for another's
    # lock must not judge by a moment earlier than what that one wrote.
    moment = now().timestamp()
    forget_before = moment - settings.login_forget_minutes * 60
    for key in keys:
        if key.last_at < forget_before:
            key.attempts, key.next_at = 0, 0.0
    wait_until = max(key.next_at for key in keys)
    if wait_until > moment:
        raise _refusal(wait_until - moment, wait_until)
    counted = pair.attempts < pair.allowance
    for key in (pair, account, origin) if counted else (pair, origin):
        key.attempts += 1
        pause = delay(key.attempts, key.allowance)
        session.execute(
            update(T)
            .where(T.c.key == key.key)
            .values(attempts=key.attempts, next_at=moment + pause if pause else 0.0, last_at=moment)
        )


def _refusal(wait: float, until: float) -> TooManyAttempts:
    seconds = max(1, math.ceil(wait))
    shown = to_display(datetime.fromtimestamp(until, UTC))
    at = shown.strftime("%H:%M:%S") if shown else ""
    details = {"retry_after": seconds}
    if seconds < 120:
        return TooManyAttempts("error.login_wait_seconds", seconds=seconds, time=at, details=details)
    return TooManyAttempts(
        "error.login_wait_minutes", minutes=math.ceil(seconds / 60), time=at, details=details
    )


def succeeded(session: Session, *, username: str, address: str | None) -> None:
    """A correct password: the pair and the account start over; the address gets its attempt back."""
    name, where = name_key(username), address_key(address)
    session.execute(
        update(T).where(T.c.key.in_([f"p:{where}|{name}", f"a:{name}"])).values(attempts=0, next_at=0.0)
    )
    session.execute(
        update(T)
        .where(T.c.key == f"i:{where}")
        .values(attempts=case((T.c.attempts > 0, T.c.attempts - 1), else_=0))
    )


def reset_account(session: Session, *, username: str) -> None:
    """An administrator's "unlock": forget the account's attempts from everywhere."""
    name = name_key(username)
    session.execute(delete(T).where((T.c.key == f"a:{name}") | T.c.key.endswith(f"|{name}", autoescape=True)))


def account_wait(session: Session, *, username: str) -> datetime | None:
    """Until when sign-ins to this account wait account-wide (the admin's account page), if they do."""
    row = session.get(LoginThrottle, f"a:{name_key(username)}")
    if row is None or row.next_at <= now().timestamp():
        return None
    return datetime.fromtimestamp(row.next_at, UTC)


def cleanup(session: Session) -> int:
    """Delete keys that have been forgotten anyway (the worker, hourly)."""
    moment = now().timestamp()
    forget_before = moment - get_settings().login_forget_minutes * 60
    result = session.execute(delete(T).where(T.c.last_at < forget_before, T.c.next_at < moment))
    return int(getattr(result, "rowcount", 0) or 0)
