"""The secret that signs session cookies: written once by ``cityloop init``, refused when known.

A session cookie only carries a random session id (org/sessions.py), so the secret is a second lock,
not the only one; still, a server must never run with a value anyone can read in this repository, its
docs or its history. ``problem`` names what is wrong with the configured secret (``serve`` and
``create_app`` refuse to start on it); ``ensure_file`` writes a fresh one to ``<data_dir>/secret_key``.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from cityloop.config import Settings
from cityloop.core.errors import AppError

MIN_LENGTH = 32
# Values that were published: the old default of config.py and of the tests, and the examples
# people paste from tutorials. Lower-case; compared case-insensitively.
PUBLISHED = frozenset(
    {
        "change-me-this-is-the-demo-secret",
        "test-secret-key",
        "change-me",
        "changeme",
        "change_me",
        "secret",
        "secret-key",
        "secret_key",
        "your-secret-key",
        "your_secret_key",
        "supersecret",
        "cityloop",
        "cityloop-demo",
        "cityloop-secret",
        "development",
        "insecure",
        "password",
    }
)
# Fragments that mark a value as a placeholder whatever surrounds them.
PLACEHOLDER_PARTS = (
    "change-me",
    "changeme",
    "change_me",
    "example",
    "placeholder",
    "your-secret",
    "demo-secret",
)


def problem(settings: Settings) -> AppError | None:
    """What is wrong with the configured secret, as a one-line error; ``None`` when it is fit to use."""
    value = settings.secret_key
    where = "CITYLOOP_SECRET_KEY" if settings.secret_source == "env" else str(settings.secret_file)
    if not value:
        return AppError("error.secret_missing", file=str(settings.secret_file))
    low = value.strip().lower()
    if low in PUBLISHED or any(part in low for part in PLACEHOLDER_PARTS):
        return AppError("error.secret_published", where=where)
    if len(value) < MIN_LENGTH or len(set(value)) < 8:
        return AppError("error.secret_short", where=where, length=len(value), min=MIN_LENGTH)
    if settings.secret_source == "file":
        mode = stat.S_IMODE(settings.secret_file.stat().st_mode)
        if mode & 0o077:
            return AppError("error.secret_readable", file=str(settings.secret_file), mode=f"{mode:04o}")
    return None


def ensure_file(settings: Settings) -> tuple[Path, bool]:
    """Write a random secret to ``<data_dir>/secret_key`` (mode 0600) unless one is there; returns the
    path and whether it was created now. Created with O_EXCL, so two ``init`` at once keep one secret."""
    path = settings.secret_file
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path, False
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, (secrets.token_urlsafe(48) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return path, True
