"""`cityloop cases import`: bulk history in one transaction, located, routed, numbered; all or nothing."""

import csv

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cityloop.cases.models import Case, CaseEvent, CaseStep, Rating
from cityloop.cli import app
from tests.cases.helpers import HJP, OUTSIDE, YJP, point_in
from tests.conftest import IS_PG

runner = CliRunner()
COLUMNS = [
    "category",
    "lon",
    "lat",
    "reported_at",
    "state",
    "source",
    "registered_at",
    "dispatched_at",
    "feedback_at",
    "verified_at",
    "closed_at",
    "rating",
    "unit",
    "description",
]


def _write(path, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        for row in rows:
            w.writerow(row)


def _count(db, model=Case):
    return db.scalar(select(func.count()).select_from(model))


def test_import_locates_routes_numbers_and_times_each_case(db, tmp_path) -> None:
    lon, lat = point_in(db, f"{YJP}-C1-G1")
    lon2, lat2 = point_in(db, f"{HJP}-C2-G2")
    rows = [
        {
            "category": "SJ0505",
            "lon": lon,
            "lat": lat,
            "reported_at": "2026-03-01T08:00:00+08:00",
            "state": "closed",
            "source": "hotline_12345",
            "registered_at": "2026-03-01T08:10:00+08:00",
            "dispatched_at": "2026-03-01T08:20:00+08:00",
            "feedback_at": "2026-03-01T10:00:00+08:00",
            "verified_at": "2026-03-01T11:00:00+08:00",
            "closed_at": "2026-03-01T11:30:00+08:00",
            "rating": "satisfied",
            "description": "<b>违停</b>",
        },
        {
            "category": "BJ0118",
            "lon": lon2,
            "lat": lat2,
            "reported_at": "2026-03-02T09:00:00+08:00",
            "state": "handling",
            "registered_at": "2026-03-02T09:05:00+08:00",
            "dispatched_at": "2026-03-02T09:10:00+08:00",
            "unit": HJP,
        },
    ]
    f = tmp_path / "cases.csv"
    _write(f, rows)
    before = (_count(db), _count(db, CaseEvent), _count(db, CaseStep), _count(db, Rating))
    r = runner.invoke(app, ["cases", "import", str(f)])
    assert r.exit_code == 0, r.output
    assert "Imported 2 cases" in r.output
    closed, open_ = db.execute(select(Case).order_by(Case.id.desc()).limit(2)).scalars().all()[::-1]
    assert (
        closed.street.code == YJP
        and closed.unit.code == f"enf-{YJP}"
        and closed.routing_reason == "default:enforcement"
    )
    assert closed.tracking_no.startswith("JLP-2026-") and closed.description == "<b>违停</b>"
    assert closed.handle_due_at is not None and closed.due_at is None and closed.h3_cell
    assert open_.unit.code == HJP and open_.routing_reason == "import" and open_.due_at == open_.handle_due_at
    after = (_count(db), _count(db, CaseEvent), _count(db, CaseStep), _count(db, Rating))
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 2, 1, 1]  # one running step, one rating


def test_one_bad_row_stops_the_import_and_saves_nothing(db, tmp_path) -> None:
    lon, lat = point_in(db, f"{YJP}-C1-G1")
    good = {"category": "SJ0102", "lon": lon, "lat": lat, "reported_at": "2026-03-01T08:00:00+08:00"}
    cases = [
        ({**good, "lon": OUTSIDE[0], "lat": OUTSIDE[1]}, "outside the district"),
        ({**good, "category": "SJ9999"}, "unknown category"),
        ({**good, "reported_at": "2026-03-01 08:00"}, "no time zone"),
        ({**good, "state": "closed"}, "needs closed_at"),
        ({**good, "lon": "abc"}, "not numbers"),
        ({**good, "registered_at": "2026-02-01T08:00:00+08:00"}, "earlier"),
    ]
    before = (_count(db), _count(db, CaseEvent))
    for bad, fragment in cases:
        f = tmp_path / "bad.csv"
        _write(f, [good] * 3 + [bad])
        r = runner.invoke(app, ["cases", "import", str(f)])
        assert r.exit_code == 2, (bad, r.output)
        assert "line 5" in r.output and fragment in r.output, r.output
    assert (_count(db), _count(db, CaseEvent)) == before
    r = runner.invoke(app, ["cases", "import", str(tmp_path / "nope.csv")])
    assert r.exit_code == 2 and "not found" in r.output


def test_every_bad_row_is_listed_by_line_and_nothing_is_saved(db, tmp_path) -> None:
    lon, lat = point_in(db, f"{YJP}-C1-G1")
    good = {"category": "SJ0102", "lon": lon, "lat": lat, "reported_at": "2026-03-01T08:00:00+08:00"}
    rows = [good, {**good, "category": "SJ9999"}, good, {**good, "lon": OUTSIDE[0], "lat": OUTSIDE[1]}]
    rows += [good] * 3 + [{**good, "state": "closed"}]
    f = tmp_path / "bad.csv"
    _write(f, rows)
    before = (_count(db), _count(db, CaseEvent))
    r = runner.invoke(app, ["cases", "import", str(f), "--batch", "100"])
    assert r.exit_code == 2, r.output
    out = " ".join(r.output.split())
    assert "3 CSV lines are wrong" in out
    assert "3: unknown category" in out and "5: (" in out and "9: state closed needs closed_at" in out
    assert (_count(db), _count(db, CaseEvent)) == before


def test_a_tracking_number_already_taken_is_a_bad_row(db, tmp_path) -> None:
    lon, lat = point_in(db, f"{YJP}-C1-G1")
    taken = db.execute(select(Case.tracking_no).limit(1)).scalar_one()
    row = {"category": "SJ0102", "lon": lon, "lat": lat, "reported_at": "2026-03-01T08:00:00+08:00"}
    f = tmp_path / "dup.csv"
    with f.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=[*row, "tracking_no"])
        w.writeheader()
        w.writerow({**row, "tracking_no": "X-1"})
        w.writerow({**row, "tracking_no": "X-1"})
        w.writerow({**row, "tracking_no": taken})
    before = _count(db)
    r = runner.invoke(app, ["cases", "import", str(f)])
    assert r.exit_code == 2
    out = " ".join(r.output.split())
    assert (
        "2 CSV lines are wrong" in out
        and "3: tracking number X-1" in out
        and f"4: tracking number {taken}" in out
    )
    assert _count(db) == before


def test_a_large_load_rebuilds_the_indexes_once(db, tmp_path, monkeypatch) -> None:
    from cityloop.cases import cli as cases_cli
    from cityloop.cases import importer

    monkeypatch.setattr(importer, "DEFER_INDEXES_FROM", 1)
    # The test's own open transaction holds the rebuilt indexes' lock: VACUUM gives up quickly here.
    monkeypatch.setattr(cases_cli, "VACUUM_LOCK_TIMEOUT", "200ms")
    lon, lat = point_in(db, f"{YJP}-C1-G1")
    good = {"category": "SJ0102", "lon": lon, "lat": lat, "reported_at": "2026-03-01T08:00:00+08:00"}
    f = tmp_path / "big.csv"
    _write(f, [good] * 2000)  # more than half the seeded table, so the rebuild applies on SQLite
    sqlite = db.get_bind().dialect.name == "sqlite"
    names = (
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases' ORDER BY name"
        if sqlite
        # PostgreSQL re-prints a rebuilt partial index's predicate in another (equal) form: compare
        # names and whether each is partial and unique.
        else "SELECT indexname || strpos(indexdef, ' WHERE ')::bool::text "
        "|| strpos(indexdef, 'UNIQUE')::bool::text "
        "FROM pg_indexes WHERE tablename = 'cases' ORDER BY indexname"
    )
    keys = (  # PostgreSQL also re-adds the foreign keys after the load
        "SELECT name FROM sqlite_master WHERE 0"
        if sqlite
        else "SELECT conname || pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'cases'::regclass AND contype = 'f' ORDER BY conname"
    )
    before_keys = db.connection().exec_driver_sql(keys).scalars().all()
    before_idx = db.connection().exec_driver_sql(names).scalars().all()
    assert len(before_idx) >= 10
    before = _count(db)
    r = runner.invoke(app, ["cases", "import", str(f)])
    assert r.exit_code == 0, r.output
    assert _count(db) == before + 2000
    assert db.connection().exec_driver_sql(names).scalars().all() == before_idx
    assert db.connection().exec_driver_sql(keys).scalars().all() == before_keys
    assert sqlite or len(before_keys) == 6
    # … and says, in one line, that VACUUM was skipped (this test's transaction holds its lock)
    assert sqlite or ("VACUUM ANALYZE cases" in r.output and "200ms" in r.output)
    bad = tmp_path / "bad.csv"
    _write(bad, [good] * 2000 + [{**good, "category": "SJ9999"}])
    r = runner.invoke(app, ["cases", "import", str(bad)])
    assert r.exit_code == 2 and _count(db) == before + 2000
    assert db.connection().exec_driver_sql(names).scalars().all() == before_idx


def test_a_large_load_into_postgresql_is_vacuumed_afterwards(live_db) -> None:
    from cityloop.cases.cli import _vacuum_after_load
    from cityloop.core.db import get_engine

    if not IS_PG:
        pytest.skip("VACUUM is PostgreSQL's")
    _vacuum_after_load()
    with get_engine().connect() as conn:
        when = conn.exec_driver_sql(
            "SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'cases'"
        ).scalar_one()
    assert when is not None
