"""Held-out test of the leak detector on years it has never seen: synthetic L-Town years of our own.

    .venv/bin/python bench/leak_heldout.py [--years 2017 2019 2020 2021] [--leaks 14] [--fresh]

- 2019: a synthetic year after the 2018 data: the 2018 leaks still open at the end of 2018 carry on
  (known from history: they earn and cost nothing), plus new random leaks. The detector is calibrated
  on the real 2018 data (``--history``) and then runs on 2019.
- 2017: a synthetic year before 2018 with random leaks; the detector is calibrated on it and then
  scored on the real 2018 data (2018 held out from calibration).
- 2020, 2021: like 2019 (calibrated on the real 2018), with no 2018 leak still open. They were drawn
  only after the detector's last change (2026-11-28, session 4), whose variants had been compared on
  2017, 2018 and 2019: they are the years the method has truly never seen. 2022 and 2023 (``--years
  2022 2023``, not in the default run to keep it short) were drawn later still, after one more
  variant had been tried and dropped.

Synthetic data follow the data set's recipe (weekly patterns × seasonal curve × daily random factor,
emitters at the middle of the leaking pipe, noise pressure 0.05 m, flow 1 %, level 0.01 m, meters 5 %)
with other leaks, another demand year and other noise. A draw whose tank runs dry (supply failure, which
the real year never shows) is re-drawn. They are written to var/leak-bench/ once and reused
(``--fresh`` regenerates), and so is each detector run over a year while the detector's code, the
data and the settings are unchanged (real 2018 is the scored year of one test and the history of
the other).
Needs ../shared/data/twin. Ends with a summary: % of perfect, false alarms, seconds per year.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "twin"
CACHE = ROOT / "var" / "leak-bench"
sys.path.insert(0, str(ROOT / "src"))

from cityloop.twin.leaks.baseline import naive_detections  # noqa: E402
from cityloop.twin.leaks.batch import calibrate, detect  # noqa: E402
from cityloop.twin.leaks.network import NetworkModel  # noqa: E402
from cityloop.twin.leaks.records import Detection, DetectorSettings  # noqa: E402
from cityloop.twin.leaks.scada import LeakRecord, ScadaData, read_leaks, read_scada  # noqa: E402
from cityloop.twin.leaks.score import format_score, score_detections  # noqa: E402
from cityloop.twin.leaks.simulate import (  # noqa: E402
    DemandClimate,
    random_leaks,
    simulate,
    tank_shortfall_hours,
)

# A synthetic year whose tank runs dry (below this many metres under the lowest level of the real year)
# is a supply failure, not a leak-detection test: its leaks are re-drawn (another seed), at most TRIES times.
DRY_MARGIN = 1.0
TRIES = 4


def synthetic_year(network: NetworkModel, real: ScadaData, year: int, n_leaks: int, fresh: bool) -> Path:
    out = CACHE / f"ltown_{year}_synthetic"
    floor = float(real.frames["levels"].min().min()) - DRY_MARGIN if "levels" in real.frames else -1e9
    if (out / "leaks.csv").exists() and not fresh:
        # a year cached by an earlier version of this script may be one whose tank ran dry
        levels = pd.read_csv(out / "levels.csv.gz", index_col=0, parse_dates=True)
        if tank_shortfall_hours(levels, floor) == 0:
            return out
        print(f"cached {year} has a dry tank: simulating it again")
    start, end = datetime(year, 1, 1), datetime(year + 1, 1, 1)
    for attempt in range(TRIES):
        seed = year + 1000 * attempt
        leaks = _draw_leaks(network, year, start, end, n_leaks, seed)
        climate = DemandClimate(amplitude=0.12, peak_day=200 + (year % 7) * 5, daily_sigma=0.035)
        t0 = time.perf_counter()
        simulate(network, real.layout, leaks, start=start, end=end, out_dir=out, seed=seed, climate=climate)
        levels = pd.read_csv(out / "levels.csv.gz", index_col=0, parse_dates=True)
        dry = tank_shortfall_hours(levels, floor)
        print(
            f"simulated {year} (seed {seed}): {len(leaks)} leaks in {time.perf_counter() - t0:.0f} s "
            f"→ {out}; tank below {floor:.2f} m for {dry:.0f} h"
        )
        if dry == 0:
            return out
        print(
            f"  unrealistic: the tank ran dry for {dry:.0f} h (the real year never went below "
            f"{floor + DRY_MARGIN:.2f} m): demand plus leaks exceed the supply; re-drawing the leaks"
        )
    print(f"  kept the last draw of {year} although its tank runs dry: its figures are not meaningful")
    return out


def _draw_leaks(
    network: NetworkModel, year: int, start: datetime, end: datetime, n_leaks: int, seed: int
) -> list[LeakRecord]:
    leaks = random_leaks(network, start=start, end=end, count=n_leaks, seed=seed)
    if year > 2018:  # leaks of the real 2018 still open at its end carry on
        carried = [
            leak for leak in read_leaks(SHARED / "ltown_2018_scada" / "leaks.csv") if leak.end >= start
        ]
        return carried + [leak for leak in leaks if leak.pipe not in {c.pipe for c in carried}]
    # a history year whose leaks are all repaired before it ends
    return [
        LeakRecord(x.pipe, x.start, min(x.end, end - timedelta(days=1)), x.diameter, x.kind, x.peak)
        for x in leaks
        if x.start < end - timedelta(days=8)
    ]


@dataclass
class Figures:
    label: str
    percent: float
    false_alarms: int
    seconds: float  # wall
    cpu: float  # CPU seconds of the process (steadier than wall time on a shared machine)


def _code_key() -> hashlib._Hash:
    key = hashlib.sha256()
    for source in sorted((ROOT / "src" / "cityloop" / "twin" / "leaks").glob("*.py")):
        key.update(source.read_bytes())
    return key


def cached_detect(
    network: NetworkModel, directory: Path, settings: DetectorSettings, known: tuple[str, ...]
) -> tuple[list[Detection], float, float, bool]:
    """The detector's reports over a year (and its wall and CPU seconds), reused from var/leak-bench
    when the detector's code, the data, the settings and the known leaks are unchanged since it ran:
    the same year is both the scored year of one test and the history of another."""
    key = _code_key()
    key.update(f"{directory.resolve()}|{settings.as_dict()}|{known}".encode())
    for name in sorted(directory.glob("*.csv*")):
        key.update(f"{name.name}:{name.stat().st_size}:{name.stat().st_mtime_ns}".encode())
    path = CACHE / f"run-{key.hexdigest()[:16]}.pickle"
    if path.exists():
        with path.open("rb") as fh:
            found, wall, cpu = pickle.load(fh)
        return found, wall, cpu, True
    data = read_scada(directory)
    t0, c0 = time.perf_counter(), time.process_time()
    found = detect(network, data, settings=settings, known_leak_pipes=known)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    CACHE.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        pickle.dump((found, wall, cpu), fh)
    return found, wall, cpu, False


def run(network: NetworkModel, scored: Path, history: Path, label: str) -> list[Figures]:
    data = read_scada(scored)
    start = data.times[0].to_pydatetime()
    leaks = read_leaks(scored / "leaks.csv")
    past_leaks = read_leaks(history / "leaks.csv")
    known_all = leaks + [x for x in past_leaks if x.end >= start and x.pipe not in {y.pipe for y in leaks}]
    flows = pd.read_csv(scored / "leak_flows.csv.gz", index_col=0, parse_dates=True)
    print(f"\n######## {label}: scored {scored.name}, calibrated on {history.name}")
    base = naive_detections(network, data)
    print(
        format_score(
            score_detections(network, base, known_all, flows, period_start=start), title="== naive baseline"
        )
    )
    past = read_scada(history)
    history_found, cal_seconds, cal_cpu, cached = cached_detect(network, history, DetectorSettings(), ())
    cal = calibrate(network, past, past_leaks, until=start, found=history_found)
    past_start = past.times[0].to_pydatetime()
    past_flows = pd.read_csv(history / "leak_flows.csv.gz", index_col=0, parse_dates=True)
    in_sample = score_detections(
        network, [(d.pipe, d.time) for d in cal.found], past_leaks, past_flows, period_start=past_start
    )
    print(format_score(in_sample, title=f"== the history year itself ({history.name}), default settings"))
    found, wall, cpu, reused = cached_detect(network, scored, cal.settings, cal.known_leak_pipes)
    score = score_detections(network, [(d.pipe, d.time) for d in found], known_all, flows, period_start=start)
    print(
        format_score(
            score,
            title=f"== model-based detector (threshold {cal.settings.detect_score:g} from history: "
            f"{cal.history_detections} reports there, {cal.history_false} false, "
            f"{cal.history_mislocated} of them beside a leak that had just started; "
            f"known open leaks {', '.join(cal.known_leak_pipes) or 'none'})",
        )
    )
    note = " (the run was reused: same code, data and settings as an earlier run)"
    print(
        f"history run {cal_seconds:.0f} s wall / {cal_cpu:.0f} s CPU{note if cached else ''}; "
        f"detection {wall:.0f} s wall / {cpu:.0f} s CPU{note if reused else ''}"
    )
    return [
        Figures(f"{history.name} (history, default settings)", in_sample.percent,
                in_sample.false_detections, cal_seconds, cal_cpu),
        Figures(f"{scored.name} ({label})", score.percent, score.false_detections, wall, cpu),
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, nargs="+", default=[2017, 2019, 2020, 2021])
    parser.add_argument("--leaks", type=int, default=14)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    real_dir = SHARED / "ltown_2018_scada"
    if not real_dir.exists():
        print(f"skipped: needs {real_dir}")
        return 0
    network = NetworkModel.from_inp(SHARED / "L-TOWN.inp")
    real = read_scada(real_dir)
    figures: list[Figures] = []
    for year in args.years:
        synth = synthetic_year(network, real, year, args.leaks, args.fresh)
        if year > 2018:
            figures += run(network, synth, real_dir, f"held-out synthetic {year}")
        else:
            figures += run(network, real_dir, synth, f"real 2018, calibrated on synthetic {year}")
    print("\n== summary (targets: ≥ 50 % of perfect, ≤ 5 false alarms, < 600 s a year)")
    print(f"{'year':<62}{'% perfect':>10}{'false':>7}{'wall s':>8}{'CPU s':>7}")
    for f in figures:
        print(f"{f.label:<62}{f.percent:>10.1f}{f.false_alarms:>7}{f.seconds:>8.0f}{f.cpu:>7.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
