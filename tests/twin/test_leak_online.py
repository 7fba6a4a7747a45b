"""The leak detector online: a simulated scenario with one abrupt leak goes in as readings through
the ingest path; the worker job raises exactly one leak warning naming the pipe (or one within
300 m), with ranked candidates and evidence; worker restarts neither lose nor repeat it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
import wntr
from sqlalchemy import func, select

from cityloop.core.audit import Actor
from cityloop.org import service as org
from cityloop.twin import jobs, leak_online, networks
from cityloop.twin.leaks.scada import LeakRecord, read_scada
from cityloop.twin.leaks.simulate import simulate
from cityloop.twin.models import LeakDetection, LeakState, TwinWarning
from cityloop.twin.placement import Placement
from cityloop.twin.telemetry import Ingestor, parse_http
from tests.twin.conftest import ORIGIN, add_sensor
from tests.twin.leak_nets import grid

LEAK = LeakRecord(
    "v2_2", datetime(2020, 1, 2, 10, 0), datetime(2020, 1, 9), 0.008, "abrupt", datetime(2020, 1, 2, 10, 0)
)
LOCAL = timezone(timedelta(hours=8))  # the gateway sends local time (Asia/Shanghai)
CODE = {"pressures": "P-", "flows": "F-", "levels": "L-", "demands": "AMR-"}
KIND = {"pressures": "pressure", "flows": "flow", "levels": "level", "demands": "demand"}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: Any) -> Any:
    """Two days of a 5×5 grid with noise; a leak of about 4 m³/h opens on day two at 10:00."""
    net, layout = grid()
    out = tmp_path_factory.mktemp("grid-online") / "scada"
    simulate(net, layout, [LEAK], start=datetime(2020, 1, 1), end=datetime(2020, 1, 3), out_dir=out, seed=3)
    inp = out.parent / "grid.inp"
    wntr.network.write_inpfile(net.wn, str(inp))
    return net, read_scada(out), inp


def import_grid(db: Any, inp: Any, name: str) -> Any:
    return networks.import_network(
        db, actor=Actor("test"), kind="water", name=name, data=inp.read_bytes(), file_name="grid.inp",
        unit=org.find_unit(db, ref="util-water"),
        placement=Placement.from_options(crs=None, origin=ORIGIN, scale=5.0),
    )  # fmt: skip


@pytest.fixture
def water(db: Any, scenario: Any) -> Any:
    _, data, inp = scenario
    network = import_grid(db, inp, "grid")
    for kind, names in data.layout.kinds().items():
        for name in names:
            add_sensor(db, f"{CODE[kind]}{name}", KIND[kind], network, name)
    leak_online.forget()
    yield network
    leak_online.forget()


def feed(db: Any, data: Any, start: datetime, end: datetime) -> int:
    """The readings of [start, end) as HTTP batches through the ingest path (one batch an hour)."""
    ingestor = Ingestor(actor=Actor("test-gateway"))
    stored = 0
    batch: list[dict[str, Any]] = []
    for r in data.readings():
        if not start <= r.time < end:
            continue
        ts = r.time.replace(tzinfo=LOCAL).isoformat()
        for kind, names in data.layout.kinds().items():
            for name, value in zip(names, getattr(r, kind), strict=True):
                if np.isfinite(value):
                    batch.append({"sensor": f"{CODE[kind]}{name}", "ts": ts, "value": float(value)})
        if r.time.minute == 55:
            stored += ingestor.ingest(db, parse_http(batch), channel="http").stored
            batch = []
    if batch:
        stored += ingestor.ingest(db, parse_http(batch), channel="http").stored
    db.flush()
    return stored


def leak_warnings(db: Any, network: Any) -> list[TwinWarning]:
    stmt = select(TwinWarning).where(TwinWarning.network_id == network.id, TwinWarning.cause == "leak")
    return list(db.execute(stmt).scalars())


def test_one_abrupt_leak_becomes_one_warning_and_restarts_do_not_repeat_it(
    db: Any, scenario: Any, water: Any
) -> None:
    net, data, _ = scenario
    day2 = datetime(2020, 1, 2)
    assert feed(db, data, datetime(2020, 1, 1), day2 + timedelta(hours=9)) > 0
    assert jobs.leak_detect(db) == 0  # a quiet day and a morning: nothing
    assert leak_warnings(db, water) == []
    state = db.execute(select(LeakState).where(LeakState.network_id == water.id)).scalar_one()
    assert state.state is not None and state.cursor is not None

    leak_online.forget()  # the worker restarts before the leak: the checkpoint and the readings carry on
    feed(db, data, day2 + timedelta(hours=9), day2 + timedelta(hours=18))
    assert jobs.leak_detect(db) == 1
    [warning] = leak_warnings(db, water)
    assert warning.status == "open" and warning.level == "orange" and warning.case_state == "pending"
    [found] = db.execute(select(LeakDetection).where(LeakDetection.warning_id == warning.id)).scalars()
    assert net.pipe_distance(found.pipe, LEAK.pipe) <= 300
    onset = found.onset.astimezone(LOCAL).replace(tzinfo=None)
    assert abs((onset - LEAK.start).total_seconds()) <= 3 * 3600
    assert found.candidates[0]["pipe"] == found.pipe and found.candidates[0]["probability"] >= 0.5
    top = found.evidence[0]
    assert top["code"] == "F-feed" and top["deviation"] > 1.0  # the inflow rose first and most
    assert warning.sensor.code == "F-feed"

    for _ in range(2):  # restart after the detection, more data, and a run with nothing new
        leak_online.forget()
        feed(db, data, day2 + timedelta(hours=18), day2 + timedelta(days=1))
        jobs.leak_detect(db)
    assert len(leak_warnings(db, water)) == 1
    assert db.execute(select(func.count()).select_from(LeakDetection)).scalar_one() == 1


def test_the_case_plan_of_a_leak_isolates_its_pipe_and_keeps_the_candidates(
    db: Any, scenario: Any, water: Any
) -> None:
    _, data, _ = scenario
    feed(db, data, datetime(2020, 1, 1), datetime(2020, 1, 2, 18))
    jobs.leak_detect(db)
    assert jobs.warning_cases(db) == 1
    [warning] = leak_warnings(db, water)
    assert warning.case_state == "requested" and warning.impact_error is None
    assert warning.impact["leak_candidates"] and warning.impact["leak_evidence"]
    assert warning.impact["valves"] is not None


def test_a_network_without_flow_or_pressure_sensors_is_left_alone(db: Any, scenario: Any) -> None:
    _, _, inp = scenario
    import_grid(db, inp, "grid2")
    assert jobs.leak_detect(db) == 0


def test_the_network_map_page_highlights_the_candidates_and_shows_the_evidence(
    client: Any, db: Any, scenario: Any, water: Any
) -> None:
    from tests.org.test_web_auth import sign_in

    _, data, _ = scenario
    feed(db, data, datetime(2020, 1, 1), datetime(2020, 1, 2, 18))
    jobs.leak_detect(db)
    [warning] = leak_warnings(db, water)
    [found] = db.execute(select(LeakDetection)).scalars()
    sign_in(client, "operator")
    page = client.get("/twin/networks/grid")
    assert page.status_code == 200 and 'id="leaks"' in page.text and "模型发现的漏损" in page.text
    assert f'data-pipe="{found.pipe}"' in page.text and "leak-candidate best" in page.text
    assert "data-leaks='[{" in page.text and f'"pipe": "{found.pipe}"' in page.text
    assert 'data-sensor="F-feed"' in page.text and "leak-evidence" in page.text
    detail = client.get(f"/twin/warnings/{warning.id}")
    assert detail.status_code == 200 and "漏损（模型检测）" in detail.text and "leak-evidence" in detail.text
    client.get("/lang/en?next=/")
    assert "Leaks found by the model" in client.get("/twin/networks/grid").text
    client.cookies.clear()
    sign_in(client, "operator-gas")  # another utility: neither the map nor the warning
    assert client.get("/twin/networks/grid").status_code == 404
    assert client.get(f"/twin/warnings/{warning.id}").status_code == 404


def test_field_timestamps_jittered_repeated_late_and_missing_keep_the_detector_running(
    db: Any, scenario: Any, water: Any
) -> None:
    """Gateways are not on the 5-minute grid: each reading is stamped up to ±2 minutes off it, some
    are sent twice (the same or a re-stamped copy), some never arrive, one sensor is silent for
    40 minutes, and some arrive hours late. The worker runs after every hourly batch and every run
    moves on (before resampling, the first off-grid reading stopped it for good with "Readings must
    arrive in time order"); the leak on day two is still found."""
    import random

    net, data, _ = scenario
    rng = random.Random(16)
    start, end = datetime(2020, 1, 1), datetime(2020, 1, 2, 18)
    silent = ("F-feed", datetime(2020, 1, 1, 14, 0), datetime(2020, 1, 1, 14, 40))
    ingestor = Ingestor(actor=Actor("test-gateway"))
    late: list[tuple[datetime, dict[str, Any]]] = []  # (when it finally arrives, reading)
    counts = {"sent": 0, "duplicates": 0, "dropped": 0, "late": 0}
    hour: list[dict[str, Any]] = []
    steps = 0
    for r in data.readings():
        if not start <= r.time < end:
            continue
        for kind, names in data.layout.kinds().items():
            for name, value in zip(names, getattr(r, kind), strict=True):
                code = f"{CODE[kind]}{name}"
                if not np.isfinite(value) or (code == silent[0] and silent[1] <= r.time < silent[2]):
                    continue
                if rng.random() < 0.02:
                    counts["dropped"] += 1
                    continue
                stamp = r.time + timedelta(seconds=rng.uniform(-120, 120))
                item = {"sensor": code, "ts": stamp.replace(tzinfo=LOCAL).isoformat(), "value": float(value)}
                if rng.random() < 0.01:
                    late.append((r.time + timedelta(hours=rng.choice([1, 2, 3])), item))
                    counts["late"] += 1
                    continue
                hour.append(item)
                if rng.random() < 0.03:  # a gateway retry: the same reading, or re-stamped
                    again = dict(item)
                    if rng.random() < 0.5:
                        again["ts"] = (
                            (stamp + timedelta(seconds=rng.uniform(1, 20))).replace(tzinfo=LOCAL).isoformat()
                        )
                    hour.append(again)
                    counts["duplicates"] += 1
        if r.time.minute == 55:
            due = [item for when, item in late if when <= r.time]
            late = [(when, item) for when, item in late if when > r.time]
            rng.shuffle(hour)  # a batch is not in time order either
            ingestor.ingest(db, parse_http(hour + due), channel="http")
            counts["sent"] += len(hour) + len(due)
            hour = []
            with db.begin_nested():
                steps += leak_online.run_network(db, water, budget_s=600).steps  # raises on failure
            state = db.execute(select(LeakState).where(LeakState.network_id == water.id)).scalar_one()
            cursor = leak_online._LIVE[water.id].cursor or state.cursor
            behind = r.time.replace(tzinfo=LOCAL) - cursor
            assert behind <= timedelta(minutes=20), (r.time, cursor)  # it keeps up, step by step
    assert all(counts.values()), counts
    assert steps >= (end - start) / timedelta(minutes=5) - 4  # every step taken (the last may wait)
    [warning] = leak_warnings(db, water)
    [found] = db.execute(select(LeakDetection).where(LeakDetection.warning_id == warning.id)).scalars()
    assert net.pipe_distance(found.pipe, LEAK.pipe) <= 300
    onset = found.onset.astimezone(LOCAL).replace(tzinfo=None)
    assert abs((onset - LEAK.start).total_seconds()) <= 3 * 3600
