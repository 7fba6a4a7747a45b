"""Drainage: which nodes flood, how much and how long, for a rainfall forecast (SWMM via pyswmm).

The stored model runs with its rain gauges fed by a time series we write: either a design storm
(total depth over a duration, a triangular hyetograph peaking at 40 % of the duration, the
shape of the Chicago storm without its IDF curve) or observed gauge totals. Volumes in m³
(the model must use SI flow units: CMS, LPS or MLD), durations in hours.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from cityloop.twin.formats import quiet
from cityloop.twin.inpfile import ModelProblem

STEP_MIN = 5
SERIES = "CITYLOOP_STORM"
SI_UNITS = {"CMS", "LPS", "MLD"}


def design_storm(depth_mm: float, hours: float, *, peak: float = 0.4) -> list[float]:
    """Intensities (mm/h) every 5 minutes for a triangular storm of ``depth_mm`` over ``hours``."""
    if depth_mm <= 0 or hours <= 0 or hours > 72:
        raise ValueError("depth must be > 0 mm and duration between 0 and 72 h")
    steps = max(1, round(hours * 60 / STEP_MIN))
    peak_at = peak * steps
    weights = []
    for i in range(steps):
        x = i + 0.5
        weights.append(x / peak_at if x <= peak_at else (steps - x) / (steps - peak_at))
    total = sum(weights)
    step_h = STEP_MIN / 60
    return [depth_mm * w / total / step_h for w in weights]


def observed_storm(totals_mm: list[float]) -> list[float]:
    """Intensities (mm/h) from 5-minute gauge totals (mm)."""
    return [max(0.0, v) * 60 / STEP_MIN for v in totals_mm]


def _rewrite(text: str, intensities: list[float], hours_after: float) -> str:
    """The model with every rain gauge reading our series and the run long enough to drain."""
    out: list[str] = []
    section = ""
    duration_min = len(intensities) * STEP_MIN + hours_after * 60
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[] ").upper()
            out.append(raw)
            if section == "TIMESERIES":
                for i, v in enumerate([*intensities, 0.0]):
                    out.append(f"{SERIES} {i * STEP_MIN // 60}:{i * STEP_MIN % 60:02d} {v:.4f}")
            continue
        fields = line.split()
        if section == "RAINGAGES" and fields:
            out.append(f"{fields[0]} INTENSITY 0:{STEP_MIN:02d} 1.0 TIMESERIES {SERIES}")
            continue
        if section == "OPTIONS" and fields and fields[0].upper() in ("END_DATE", "END_TIME"):
            continue
        if section == "OPTIONS" and fields and fields[0].upper() == "START_DATE":
            out.append(raw)
            days, minutes = divmod(int(duration_min), 24 * 60)
            out.append(f"END_DATE {_add_days(fields[1], days)}")
            out.append(f"END_TIME {minutes // 60:02d}:{minutes % 60:02d}:00")
            continue
        out.append(raw)
    if "[TIMESERIES]" not in text.upper():
        out.append("[TIMESERIES]")
        out.extend(
            f"{SERIES} {i * STEP_MIN // 60}:{i * STEP_MIN % 60:02d} {v:.4f}"
            for i, v in enumerate([*intensities, 0.0])
        )
    return "\n".join(out) + "\n"


def _add_days(date: str, days: int) -> str:
    from datetime import datetime, timedelta

    start = datetime.strptime(date, "%m/%d/%Y")
    return (start + timedelta(days=days)).strftime("%m/%d/%Y")


def flood_forecast(data: bytes, intensities: list[float], *, hours_after: float = 2.0) -> dict[str, Any]:
    """Run SWMM with the given rainfall; the flooded nodes with volume (m³) and duration (h)."""
    from pyswmm import Nodes, Simulation, SystemStats

    text = data.decode("utf-8", errors="replace")
    units = _flow_units(text)
    if units not in SI_UNITS:
        raise ModelProblem(
            "twin.model.engine_refused", {"engine": "SWMM", "reason": f"flow units {units} are not SI"}
        )
    with tempfile.TemporaryDirectory(prefix="cityloop-swmm-") as tmp:
        path = Path(tmp) / "storm.inp"
        path.write_text(_rewrite(text, intensities, hours_after))
        flooded = []
        with quiet(), Simulation(str(path)) as sim:
            for _ in sim:
                pass
            for node in Nodes(sim):
                stats = node.statistics
                volume = float(stats.get("flooding_volume", 0.0))
                if volume > 0:
                    flooded.append(
                        {
                            "node": node.nodeid,
                            "volume_m3": round(volume, 2),
                            "hours": round(float(stats.get("flooding_duration", 0.0)), 3),
                            "peak_rate_cms": round(float(stats.get("peak_flooding_rate", 0.0)), 4),
                        }
                    )
            routing = SystemStats(sim).routing_stats
    flooded.sort(key=lambda f: -f["volume_m3"])
    return {
        "kind": "drainage",
        "rain_mm": round(sum(intensities) * STEP_MIN / 60, 2),
        "storm_hours": len(intensities) * STEP_MIN / 60,
        "flooded": flooded,
        "flood_volume_m3": round(sum(f["volume_m3"] for f in flooded), 2),
        "system_flooding": round(float(routing.get("flooding", 0.0)), 2),
        "outflow": round(float(routing.get("outflow", 0.0)), 2),
    }


def _flow_units(text: str) -> str:
    section = ""
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[] ").upper()
        elif section == "OPTIONS" and line.upper().startswith("FLOW_UNITS"):
            return line.split()[1].upper()
    return "CFS"
