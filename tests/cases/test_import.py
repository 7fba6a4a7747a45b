"""`cityloop cases import`: bulk history in one transaction, located, routed, numbered; all or nothing."""

import csv

from sqlalchemy import func, select
from typer.testing import CliRunner

from cityloop.cases.models import Case, CaseEvent, CaseStep, Rating
from cityloop.cli import app
from tests.cases.helpers import HJP, OUTSIDE, YJP, point_in

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
