"""A suggested category for every new case, cheaply, inside intake — and never at intake's expense.

``HOOK`` is an intake hook of ``cases.service`` (``cityloop.bridges.install`` adds it). Before the
write transaction it classifies the description with the active model version (loaded once per
process, reloaded when another version is activated) or, when there is none or it cannot be used, with
keyword rules built from the active category names. Inside the transaction the suggestion is one plain
INSERT into ``case_insights``; at or above ``insight_prefill_confidence`` the dispatcher sees it
pre-filled, below it the case waits for manual triage.

Cost per report: one classification of one text (tens of microseconds for the keyword rules; see
``features.CharTfidf._entries_of_one``), one INSERT, and every ``CHECK_SECONDS`` one indexed look-up
of the active version.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from cityloop.cases import categories
from cityloop.config import get_settings
from cityloop.core.clock import now
from cityloop.insight import modelfile
from cityloop.insight.classifier import Classifier, KeywordClassifier
from cityloop.insight.features import CategoryPrior
from cityloop.insight.models import CaseInsight, InsightModel

log = logging.getLogger("cityloop.insight")
CHECK_SECONDS = 2.0
RULES_VERSION = 0
_INSERT = insert(cast(Table, CaseInsight.__table__))
_ACTIVE = select(InsightModel.version).where(InsightModel.active.is_(True)).limit(1)


@dataclass(frozen=True)
class Suggestion:
    code: str | None
    confidence: float
    model_version: int  # 0 = keyword rules
    triage: str  # prefilled | manual


@dataclass
class _State:
    checked: float = -1e9
    version: int | None = None  # the active version seen last
    model: Classifier | None = None  # None: rules
    failed: set[int] = field(default_factory=set)
    leaves_id: int = 0
    rules: KeywordClassifier | None = None


_STATES: dict[str, _State] = {}
_LOCK = threading.Lock()


def rules_for(leaves: dict[str, categories.Leaf]) -> KeywordClassifier | None:
    """Keyword rules from category names: each code described by its name and its major class."""
    if not leaves:
        return None
    names = {code: [leaf.name, leaf.major_name] for code, leaf in leaves.items()}
    return KeywordClassifier(CategoryPrior(names))


def _state(session: Session) -> _State:
    url = str(session.get_bind().engine.url)
    state = _STATES.get(url)
    if state is None:
        with _LOCK:
            state = _STATES.setdefault(url, _State())
    return state


def _load(session: Session, state: _State, version: int | None) -> None:
    """Switch to ``version`` (None: rules). A version that cannot be loaded is remembered and skipped."""
    state.version, state.model = version, None
    if version is None or version in state.failed:
        return
    row = session.execute(select(InsightModel).where(InsightModel.version == version)).scalar_one_or_none()
    try:
        if row is None:
            raise ValueError("version vanished")
        if row.blob is not None:
            model = modelfile.loads(row.blob, name=f"version {version}")
        elif row.file_path:
            from pathlib import Path

            model = modelfile.load(Path(row.file_path))
        else:
            raise ValueError("no model file")
    except Exception as exc:  # a broken or incompatible model never breaks intake
        log.warning("classifier version %s unusable, using keyword rules: %s", version, exc)
        state.failed.add(version)
        return
    state.model = model


def classifier(session: Session) -> tuple[Classifier | None, int, dict[str, categories.Leaf]]:
    """The classifier intake uses now, its version (0 = rules) and the active categories."""
    state = _state(session)
    moment = time.monotonic()
    if moment - state.checked >= CHECK_SECONDS:
        version = session.execute(_ACTIVE).scalar_one_or_none()
        state.checked = moment
        if version != state.version:
            _load(session, state, version)
    leaves = categories.leaves(session)
    if id(leaves) != state.leaves_id:
        state.leaves_id, state.rules = id(leaves), rules_for(leaves)
    if state.model is not None and any(c in leaves for c in state.model.classes):
        return state.model, int(state.version or 0), leaves
    return state.rules, RULES_VERSION, leaves


def suggest(session: Session, *, text: str) -> Suggestion:
    model, version, leaves = classifier(session)
    code, confidence = None, 0.0
    if model is not None and (text or "").strip():
        try:
            prediction = model.predict([text])[0]
        except Exception as exc:
            log.warning("classifier version %s failed on a report: %s", version, exc)
            if version != RULES_VERSION:
                _state(session).failed.add(version)
            prediction = None
        if prediction is not None and prediction.label in leaves:
            code, confidence = prediction.label, round(float(prediction.confidence), 4)
    prefill = code is not None and confidence >= get_settings().insight_prefill_confidence
    return Suggestion(code, confidence, version, "prefilled" if prefill else "manual")


class SuggestionHook:
    """Suggest while intake reads, store with the case. Neither half ever raises."""

    def prepare(self, session: Session, *, report: Any) -> Suggestion | None:
        try:
            return suggest(session, text=report.description or "")
        except Exception as exc:
            log.warning("no category suggestion for a report: %s", exc)
            return None

    def persist(self, session: Session, *, rows: Sequence[tuple[int, Suggestion | None]]) -> None:
        values = [_values(case_id, s) for case_id, s in rows if s is not None]
        if values:
            session.execute(_INSERT, values)


HOOK = SuggestionHook()


def _values(case_id: int, s: Suggestion) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "suggested_code": s.code,
        "confidence": s.confidence,
        "model_version": s.model_version,
        "triage": s.triage,
        "created_at": now(),
    }


def reset() -> None:
    """Forget every loaded model (tests)."""
    _STATES.clear()
