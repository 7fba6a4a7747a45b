"""Every message the programme's pages and errors can show exists in Chinese and English."""

import re
from pathlib import Path

from cityloop.core import i18n
from cityloop.programme import evaluation, service
from cityloop.programme.models import ProblemState, Status, TaskState

SRC = Path(__file__).resolve().parents[2] / "src" / "cityloop"


def used_keys() -> set[str]:
    keys: set[str] = set()
    for path in (SRC / "templates" / "programme").glob("*.html"):
        keys |= set(re.findall(r"""\bt\(['"]([a-z_.]+[a-z_])['"]""", path.read_text(encoding="utf-8")))
    for path in (SRC / "programme").glob("*.py"):
        keys |= set(
            re.findall(r'"(error\.programme\.[a-z_]+|timeline\.[a-z_.]+|ledger\.[a-z_.]+)"', path.read_text())
        )
    ledger = (SRC / "programme" / "ledger.py").read_text()
    fourth = re.findall(r'ctx\.err\(\s*\w+,\s*\w+,\s*(?:"[a-z_]+"|[^,"]+),\s*"([a-z_]+)"', ledger)
    keys |= {f"ledger.error.{k}" for k in [*fourth, "task_unknown", "required", "number", "date"]}
    keys |= {f"status.{s.value}" for s in Status} | {f"state.{s.value}" for s in TaskState}
    keys |= {f"pstate.{s.value}" for s in ProblemState} | {f"metric.{m}" for m in evaluation.METRICS}
    keys |= {f"level.{lv}" for lv in evaluation.LEVELS} | {
        f"setting.{k}" for k in service.DEFAULT_SUPERVISION
    }
    keys |= {f"notice.level.{n}" for n in (0, 1, 2)} | {f"timeline.escalation.{n}" for n in (1, 2)}
    reasons = (
        "milestone_overdue",
        "task_overdue",
        "behind_plan",
        "due_soon_no_report",
        "on_track",
        "accepted",
    )
    return keys | {f"reason.{r}" for r in reasons}


def test_every_used_key_is_translated_in_both_languages() -> None:
    zh, en = i18n.catalogue("zh-CN"), i18n.catalogue("en")
    keys = used_keys()
    assert len(keys) > 150
    assert sorted(k for k in keys if k not in zh) == []
    assert sorted(k for k in keys if k not in en) == []
