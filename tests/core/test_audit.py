from sqlalchemy import select, update
from typer.testing import CliRunner

from cityloop.cli import app
from cityloop.core import audit
from cityloop.org import service


def test_every_seeded_change_is_in_an_intact_chain(db) -> None:
    result = audit.verify(db)
    assert result.ok, result
    assert result.checked > 100  # every unit and account of the demo district


def test_an_update_records_before_and_after(db) -> None:
    unit = service.find_unit(db, ref="500107001000")
    service.update_unit(db, actor=audit.Actor("test"), unit=unit, name="杨家坪街道(改)")
    rec = audit.history(db, entity_type="unit", entity_id=unit.id)[-1]
    assert rec.before["name"] == "杨家坪街道" and rec.after["name"] == "杨家坪街道(改)"
    assert rec.actor == "test"
    assert audit.verify(db).ok


def test_tampering_is_found_at_the_first_broken_record(db) -> None:
    ids = db.execute(select(audit.AuditRecord.id).order_by(audit.AuditRecord.id)).scalars().all()
    victim = ids[len(ids) // 2]
    db.execute(update(audit.AuditRecord).where(audit.AuditRecord.id == victim).values(actor="mallory"))
    db.flush()
    db.expire_all()
    result = audit.verify(db)
    assert not result.ok and result.broken_id == victim
    assert "hash" in (result.reason or "")


def test_deleting_a_record_breaks_the_link_of_the_next(db) -> None:
    ids = db.execute(select(audit.AuditRecord.id).order_by(audit.AuditRecord.id)).scalars().all()
    db.execute(audit.AuditRecord.__table__.delete().where(audit.AuditRecord.id == ids[5]))
    db.flush()
    result = audit.verify(db)
    assert result.broken_id == ids[6]


def test_cli_audit_verify_exits_1_on_a_broken_chain(db) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    first = db.execute(select(audit.AuditRecord.id).order_by(audit.AuditRecord.id)).scalars().first()
    db.execute(update(audit.AuditRecord).where(audit.AuditRecord.id == first).values(after={"forged": True}))
    db.commit()
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"record {first}" in broken.output


def test_concurrent_appends_never_fork_the_chain(live_db: str) -> None:
    """Writers in parallel threads (some rolling back) leave one intact chain holding every commit."""
    import threading

    from sqlalchemy import func

    from cityloop.core.db import new_session

    def count() -> int:
        s = new_session(live_db)
        try:
            return int(s.execute(select(func.count(audit.AuditRecord.id))).scalar_one())
        finally:
            s.close()

    before = count()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                s = new_session(live_db, write=True)
                try:
                    audit.record(
                        s, actor=audit.Actor(f"t{n}"), action="test.append", entity_type="t", entity_id=i
                    )
                    if i % 5 == 4:
                        s.rollback()  # leaves a stale tail hint behind in this process
                    else:
                        s.commit()
                finally:
                    s.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert count() == before + 6 * 12
    s = new_session(live_db)
    try:
        assert audit.verify(s).ok
    finally:
        s.close()
