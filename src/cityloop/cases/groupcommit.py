"""Group commit for intake: reports that arrive together are written in one transaction.

Each report is checked, located, routed and compared with open cases by its own request thread
(``service.prepare``, reads only). Writing it is then short, but a transaction of its own costs as much
again as its statements: BEGIN, taking the database's write lock (SQLite has one writer; the audit
chain's tail is one lock on PostgreSQL) and COMMIT. Under a burst, the threads with prepared reports
queue here; whichever takes the leader's place writes every report waiting at that moment in one
transaction, commits, and hands each thread its own case. Nobody waits for a batch to fill: a lone
report is written at once, alone, exactly as before.

Nothing is answered before its commit, so a 2xx still means the case is stored. If a batch fails as a
whole (e.g. two retries of one Idempotency-Key in the same batch break the key's unique index), it is
rolled back and each report is written again in a transaction of its own, so one bad report never costs
the others theirs; the caller sees only its own report's error.

bench/cases_intake.py prints what this is worth (decision 0010).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from cityloop.cases import service
from cityloop.core.db import new_session

# More than this in one transaction only makes the first of them wait longer for their answer.
MAX_BATCH = 32


@dataclass
class _Pending:
    prepared: service.Prepared
    done: threading.Event = field(default_factory=threading.Event)
    result: service.IntakeResult | None = None
    error: BaseException | None = None


class GroupCommit:
    def __init__(self, max_batch: int = MAX_BATCH):
        self._max = max_batch
        self._queue_lock = threading.Lock()  # guards _pending
        self._leader = threading.Lock()  # held by the thread writing a batch
        self._pending: list[_Pending] = []
        self.batches = 0  # transactions committed and reports in them (written ÷ batches = mean size)
        self.written = 0

    def submit(self, prepared: service.Prepared) -> service.IntakeResult:
        """Write ``prepared`` (alone or with others waiting), committed; raise its own error if it failed."""
        item = _Pending(prepared)
        with self._queue_lock:
            self._pending.append(item)
        while not item.done.is_set():
            with self._leader:
                if item.done.is_set():  # the previous leader took it along
                    break
                with self._queue_lock:
                    batch, self._pending = self._pending[: self._max], self._pending[self._max :]
                self._write(batch)
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    def _write(self, batch: list[_Pending]) -> None:
        try:
            if not self._write_together(batch) and len(batch) > 1:
                for item in batch:  # one report's fault must not fail the others: each alone
                    self._write_together([item])
        finally:
            for item in batch:  # every waiter wakes up, whatever happened
                if item.result is None and item.error is None:
                    item.error = RuntimeError("intake: report not written")
                item.done.set()

    def _write_together(self, batch: list[_Pending]) -> bool:
        db = new_session(write=True)
        try:
            results = service.persist_many(db, [item.prepared for item in batch])
            db.commit()
        except Exception as exc:
            db.rollback()
            if len(batch) == 1:
                batch[0].error = exc
            return False
        finally:
            db.close()
        for item, result in zip(batch, results, strict=True):
            item.result = result
        self.batches += 1
        self.written += len(batch)
        return True


_WRITER = GroupCommit()


def write(prepared: service.Prepared) -> service.IntakeResult:
    """The process's group-commit writer (one per process: batches form across all request threads)."""
    return _WRITER.submit(prepared)
