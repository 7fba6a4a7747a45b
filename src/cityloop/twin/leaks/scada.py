"""SCADA directories in the BattLeDIM layout, leak lists and detection files.

A directory holds ``pressures``, ``flows``, ``levels`` and ``demands`` as ``.csv`` or ``.csv.gz``; the first
column is ``Timestamp`` and the others are sensors named by node (pressure m, AMR demand L/h), link
(flow m³/h) or tank (level m). ``leaks.csv`` (pipe, start, end, diameter, kind, peak) is only for
calibration and scoring. A detection file has one line per detection: ``pipeID, YYYY-MM-DD HH:MM``.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from cityloop.core.errors import ValidationFailed
from cityloop.twin.leaks.records import Readings, SensorLayout

KINDS = ("pressures", "flows", "levels", "demands")
REQUIRED = ("pressures", "flows")


@dataclass
class ScadaData:
    """A directory of readings on one regular time grid."""

    directory: Path
    times: pd.DatetimeIndex
    frames: dict[str, pd.DataFrame]  # kind → (time × sensor) values
    step_seconds: int

    @property
    def layout(self) -> SensorLayout:
        return SensorLayout(**{k: tuple(self.frames[k].columns) if k in self.frames else () for k in KINDS})

    def __len__(self) -> int:
        return len(self.times)

    def readings(self) -> Iterator[Readings]:
        layout = self.layout
        arrays = {
            k: (self.frames[k].to_numpy(dtype=float) if k in self.frames else np.zeros((len(self), 0)))
            for k in KINDS
        }
        for i, t in enumerate(self.times.to_pydatetime()):
            yield Readings(t, *(arrays[k][i] for k in KINDS))
        del layout

    def check_same_sensors(self, other: ScadaData) -> None:
        """History and the scored period must have the same sensors (the calibration is per sensor)."""
        for kind in KINDS:
            mine = list(self.frames[kind].columns) if kind in self.frames else []
            theirs = list(other.frames[kind].columns) if kind in other.frames else []
            for name in mine:
                if name not in theirs:
                    raise ValidationFailed(
                        "leaks.missing_sensor_column", sensor=name, file=f"{other.directory}/{kind}.csv"
                    )


def read_scada(directory: Path) -> ScadaData:
    """Read and check a SCADA directory; one clear error for anything unusable."""
    if not directory.is_dir():
        raise ValidationFailed("leaks.not_a_directory", path=str(directory))
    frames: dict[str, pd.DataFrame] = {}
    for kind in KINDS:
        path = _find(directory, kind)
        if path is None:
            if kind in REQUIRED:
                raise ValidationFailed("leaks.missing_file", file=f"{directory}/{kind}.csv")
            continue
        frames[kind] = _read_frame(path)
    times = frames["pressures"].index
    for kind, frame in frames.items():
        if not frame.index.equals(times):
            raise ValidationFailed("leaks.times_differ", file=f"{directory}/{kind}", other="pressures")
    step = _check_regular(times, directory / "pressures")
    return ScadaData(directory, times, frames, step)


def _find(directory: Path, kind: str) -> Path | None:
    for suffix in (".csv", ".csv.gz"):
        path = directory / f"{kind}{suffix}"
        if path.exists():
            return path
    return None


def _read_frame(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, gzip.BadGzipFile, pd.errors.ParserError, EOFError) as exc:
        raise ValidationFailed(
            "leaks.file_unreadable", file=str(path), reason=str(exc).splitlines()[0]
        ) from None
    except pd.errors.EmptyDataError:
        raise ValidationFailed("leaks.file_unreadable", file=str(path), reason="empty file") from None
    if len(frame.columns) == 0 or frame.columns[0].strip() != "Timestamp":
        raise ValidationFailed("leaks.no_timestamp_column", file=str(path))
    if len(frame.columns) < 2:
        raise ValidationFailed("leaks.no_sensor_columns", file=str(path))
    try:
        index = pd.to_datetime(frame.iloc[:, 0], format="ISO8601")
    except (ValueError, TypeError):
        raise ValidationFailed("leaks.bad_timestamp", file=str(path)) from None
    values = frame.iloc[:, 1:].apply(pd.to_numeric, errors="coerce")
    bad = [c for c in values.columns if values[c].isna().all() and not frame[c].isna().all()]
    if bad:
        raise ValidationFailed("leaks.not_numeric", file=str(path), sensor=bad[0])
    values.index = pd.DatetimeIndex(index)
    values.columns = [str(c).strip() for c in values.columns]
    return values


def _check_regular(times: pd.DatetimeIndex, where: Path) -> int:
    if len(times) < 2:
        raise ValidationFailed("leaks.too_short", file=str(where))
    diffs = np.diff(times.values.astype("datetime64[s]").astype(np.int64))
    step = int(diffs[0])
    bad = np.nonzero(diffs != step)[0]
    if step <= 0 or len(bad):
        i = int(bad[0]) + 1 if len(bad) else 1
        raise ValidationFailed("leaks.irregular_times", file=str(where), time=str(times[i]), step=step)
    return step


@dataclass(frozen=True)
class LeakRecord:
    """A leak of a scenario: pipe, start, end (repair), type and when it peaked."""

    pipe: str
    start: datetime
    end: datetime
    diameter: float = 0.0
    kind: str = "abrupt"
    peak: datetime | None = None


def read_leaks(path: Path) -> list[LeakRecord]:
    """``leaks.csv``: header ``pipe,start,end[,diameter,kind,peak]``."""
    try:
        with path.open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        return [
            LeakRecord(
                pipe=row["pipe"].strip(),
                start=_parse_time(row["start"]),
                end=_parse_time(row["end"]),
                diameter=float(row.get("diameter") or 0.0),
                kind=(row.get("kind") or "abrupt").strip(),
                peak=_parse_time(row["peak"]) if row.get("peak") else None,
            )
            for row in rows
        ]
    except (KeyError, ValueError) as exc:
        raise ValidationFailed("leaks.bad_leak_list", file=str(path), reason=str(exc)) from None


def write_leaks(path: Path, leaks: Iterable[LeakRecord]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["pipe", "start", "end", "diameter", "kind", "peak"])
        for leak in leaks:
            w.writerow([leak.pipe, leak.start, leak.end, leak.diameter, leak.kind, leak.peak or leak.start])


def write_detections(path: Path, detections: Iterable[tuple[str, datetime]]) -> None:
    """One line per detection, ``pipeID, YYYY-MM-DD HH:MM`` (the benchmark's submission format)."""
    with path.open("w", encoding="utf-8") as fh:
        for pipe, time in detections:
            fh.write(f"{pipe}, {time:%Y-%m-%d %H:%M}\n")


def read_detections(path: Path) -> list[tuple[str, datetime]]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                pipe, when = (part.strip() for part in line.split(",", 1))
                out.append((pipe, _parse_time(when)))
            except ValueError:
                raise ValidationFailed("leaks.bad_detection_line", file=str(path), line=n) from None
    return out


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())
