"""Two people act on one case at the same moment: one wins, the other gets 409, no update is lost."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cityloop.cases import groupcommit, service
from cityloop.cases.models import Case, CaseEvent
from cityloop.cases.workflow import ActionInput
from cityloop.core import audit
from cityloop.core.audit import AuditRecord
from cityloop.core.db import new_session, session_scope
from cityloop.core.errors import Conflict
from cityloop.org import service as org
from tests.cases.conftest import live_token
from tests.cases.helpers import YJP, point_in
from tests.conftest import IS_PG


def _new_cases(n: int) -> list[int]:
    with session_scope() as s:
        lon, lat = point_in(s, f"{YJP}-C1-G1")
        citizen = org.principal_for(org.get_user(s, username="citizen"))
        return [
            service.intake(
                s, actor=citizen, report=service.NewCase(category="SJ0102", lon=lon, lat=lat)
            ).case.id
            for _ in range(n)
        ]


def test_concurrent_actions_over_http_one_wins_one_gets_409(server) -> None:
    ids = _new_cases(8)
    h = live_token("dispatcher")
    gate = threading.Barrier(2 * len(ids))

    def fire(job):
        case_id, action = job
        body = {"version": 1, "reason": "重复上报"} if action == "void" else {"version": 1}
        with httpx.Client(base_url=server.base, timeout=30) as c:
            gate.wait(timeout=30)
            return case_id, c.post(
                f"/api/v1/cases/{case_id}/actions/{action}", headers=h, json=body
            ).status_code

    jobs = [(i, a) for i in ids for a in ("register", "void")]
    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(fire, jobs))
    for case_id in ids:
        codes = sorted(code for cid, code in results if cid == case_id)
        assert codes == [200, 409], (case_id, codes)
    with session_scope(write=False) as s:
        for case_id in ids:
            case = s.get(Case, case_id)
            assert case.version == 2 and case.state in ("registered", "voided")
            moves = s.scalar(
                select(func.count())
                .select_from(CaseEvent)
                .where(CaseEvent.case_id == case_id, CaseEvent.action.in_(["register", "void"]))
            )
            assert moves == 1


@pytest.mark.skipif(
    not IS_PG, reason="SQLite write sessions take the lock at BEGIN, so a stale read cannot be held"
)
def test_a_stale_in_memory_copy_cannot_overwrite_on_postgresql(live_db) -> None:
    (case_id,) = _new_cases(1)
    a, b = new_session(write=True), new_session(write=True)
    try:
        dispatcher = org.principal_for(org.get_user(a, username="dispatcher"))
        case_a, case_b = a.get(Case, case_id), b.get(Case, case_id)  # both read version 1
        b.commit()  # b's snapshot ends, its object still says version 1
        service.apply_action(a, actor=dispatcher, case=case_a, action="register", data=ActionInput(version=1))
        a.commit()
        with pytest.raises(Conflict):
            service.apply_action(
                b, actor=dispatcher, case=case_b, action="void", data=ActionInput(version=1, reason="x")
            )
        b.rollback()
    finally:
        a.close()
        b.close()
    with session_scope(write=False) as s:
        assert s.get(Case, case_id).state == "registered"


def test_a_crowd_of_writers_does_not_stall_the_server(server) -> None:
    """More simultaneous write requests than worker threads: none may wait out SQLite's busy timeout."""
    (case_id,) = _new_cases(1)
    h = live_token("dispatcher")
    crowd = 60  # the server has 40 worker threads
    gate = threading.Barrier(crowd)

    def note(i):
        with httpx.Client(base_url=server.base, timeout=60) as c:
            gate.wait(timeout=30)
            body = {"version": 1, "note": f"第{i}条备注"}
            return c.post(f"/api/v1/cases/{case_id}/actions/note", headers=h, json=body).status_code

    with ThreadPoolExecutor(crowd) as pool:
        codes = list(pool.map(note, range(crowd)))
    assert codes == [200] * crowd
    with session_scope(write=False) as s:
        notes = s.scalar(
            select(func.count())
            .select_from(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.action == "note")
        )
    assert notes == crowd


def _prepared(n: int, *, same_key_twice: bool = False) -> list[service.Prepared]:
    from cityloop.insight import intake as insight_intake

    service.add_intake_hook(insight_intake.HOOK)  # as bridges.install() does in the app
    with session_scope(write=False) as s:
        lon, lat = point_in(s, f"{YJP}-C1-G1")
        citizen = org.principal_for(org.get_user(s, username="citizen"))
        out = []
        for i in range(n):
            key = "same-key" if same_key_twice and i in (1, 2) else f"group-{i}-{uuid.uuid4()}"
            report = service.NewCase(category="SJ0102", lon=lon, lat=lat, description="同时上报")
            prepared = service.prepare(s, actor=citizen, report=report, idempotency_key=key)
            assert isinstance(prepared, service.Prepared)
            out.append(prepared)
        return out


def _submit_together(writer: groupcommit.GroupCommit, items: list[service.Prepared]) -> list[object]:
    """Hold the leader's place until every report waits, so that they are written as one batch."""
    results: list[object] = [None] * len(items)

    def submit(i: int) -> None:
        try:
            results[i] = writer.submit(items[i])
        except Exception as exc:
            results[i] = exc

    with writer._leader:
        threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(items))]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(writer._pending) < len(items) and time.monotonic() < deadline:
            time.sleep(0.01)
    for t in threads:
        t.join(timeout=30)
    return results


def test_reports_that_arrive_together_are_written_in_one_transaction_each_with_its_own_case(live_db) -> None:
    writer = groupcommit.GroupCommit()
    results = _submit_together(writer, _prepared(10))
    assert writer.batches == 1 and writer.written == 10
    ids = [r.case.id for r in results]  # type: ignore[attr-defined]
    assert len(set(ids)) == 10
    with session_scope(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Case).where(Case.id.in_(ids))) == 10
        numbers = {s.get(Case, i).tracking_no for i in ids}
        audited = s.scalars(
            select(AuditRecord.entity_id).where(
                AuditRecord.action == "case.report", AuditRecord.entity_id.in_([str(i) for i in ids])
            )
        ).all()
        chain = audit.verify(s)
    assert len(numbers) == 10
    assert sorted(audited) == sorted(str(i) for i in ids)  # one audit record per case, in one chain
    assert chain.ok, chain
    insights = _count_insights(ids)
    assert insights == 10  # the suggestion hook wrote one row per case of the batch


def _count_insights(ids: list[int]) -> int:
    from cityloop.insight.models import CaseInsight

    with session_scope(write=False) as s:
        found = select(func.count()).select_from(CaseInsight).where(CaseInsight.case_id.in_(ids))
        return int(s.scalar(found))


def test_one_bad_report_in_a_batch_costs_the_others_nothing(live_db) -> None:
    # Two reports with one Idempotency-Key in the same batch break the key's unique index: the batch is
    # written again one by one, the first keeps the key and the second alone gets the error.
    writer = groupcommit.GroupCommit()
    results = _submit_together(writer, _prepared(6, same_key_twice=True))
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], IntegrityError)
    ids = [r.case.id for r in results if not isinstance(r, Exception)]  # type: ignore[attr-defined]
    assert len(set(ids)) == 5 and writer.written == 5
    with session_scope(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Case).where(Case.id.in_(ids))) == 5


def test_a_burst_of_reports_over_http_each_gets_exactly_one_case(server) -> None:
    h = live_token("inspector")
    with session_scope(write=False) as s:
        lon, lat = point_in(s, f"{YJP}-C1-G1")
    crowd = 48
    gate = threading.Barrier(crowd)
    keys = [f"burst-{i}" for i in range(crowd - 2)] + ["burst-again", "burst-again"]

    def send(key: str) -> tuple[int, int]:
        body = {"category": "SJ0102", "lon": lon, "lat": lat, "description": "一起上报"}
        with httpx.Client(base_url=server.base, timeout=60) as c:
            gate.wait(timeout=30)
            r = c.post("/api/v1/cases", headers={**h, "Idempotency-Key": key}, json=body)
            return r.status_code, r.json()["id"]

    with ThreadPoolExecutor(crowd) as pool:
        answers = list(pool.map(send, keys))
    assert all(code in (200, 201) for code, _ in answers)
    assert sorted(code for code, _ in answers).count(200) <= 1  # only the repeated key may be replayed
    assert answers[-1][1] == answers[-2][1]  # the same key: the same case
    assert len({case_id for _, case_id in answers}) == crowd - 1
