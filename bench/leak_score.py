"""Leak detection on the BattLeDIM-style L-Town year: the model-based detector against the naive one.

    .venv/bin/python bench/leak_score.py [--scada DIR] [--network INP] [--history DIR]
                                         [--detections FILE] [--out FILE]

Prints, for each detector: score (€), perfect score, % of perfect, true and false detections, the
per-leak table, and the wall and CPU time of the run. ``--detections`` scores a submission file
(``pipeID, YYYY-MM-DD HH:MM`` a line) instead of running anything. Needs ../shared/data/twin.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "twin"
sys.path.insert(0, str(ROOT / "src"))

from cityloop.twin.leaks.baseline import naive_detections  # noqa: E402
from cityloop.twin.leaks.batch import calibrate, detect  # noqa: E402
from cityloop.twin.leaks.network import NetworkModel  # noqa: E402
from cityloop.twin.leaks.scada import read_detections, read_leaks, read_scada, write_detections  # noqa: E402
from cityloop.twin.leaks.score import Score, format_score, score_detections  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scada", type=Path, default=SHARED / "ltown_2018_scada")
    parser.add_argument("--network", type=Path, default=SHARED / "L-TOWN.inp")
    parser.add_argument("--history", type=Path, default=None, help="calibrate on this year (with leaks.csv)")
    parser.add_argument("--detections", type=Path, default=None, help="score this submission file only")
    parser.add_argument("--out", type=Path, default=None, help="write the detector's submission file here")
    args = parser.parse_args()
    if not args.scada.exists() or not args.network.exists():
        print(f"skipped: needs {args.scada} and {args.network}")
        return 0
    network = NetworkModel.from_inp(args.network)
    data = read_scada(args.scada)
    leaks = read_leaks(args.scada / "leaks.csv")
    flows = pd.read_csv(args.scada / "leak_flows.csv.gz", index_col=0, parse_dates=True)
    start = data.times[0].to_pydatetime()
    print(
        f"{args.scada}: {len(data)} steps of {data.step_seconds} s from {start:%Y-%m-%d}, {len(leaks)} leaks"
    )

    def show(title: str, found: list, extra: str = "") -> Score:  # type: ignore[type-arg]
        score = score_detections(network, found, leaks, flows, period_start=start)
        print(format_score(score, title=f"\n== {title}{extra}"))
        return score

    if args.detections:
        show(f"submission {args.detections}", read_detections(args.detections))
        return 0
    for sigmas in (1.5, 2.0, 3.0):
        show(
            f"naive baseline (night inflow up two nights, {sigmas} σ)",
            naive_detections(network, data, sigmas=sigmas),
        )

    settings, known, note = None, (), ""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if args.history:
        past = read_scada(args.history)
        result = calibrate(network, past, read_leaks(args.history / "leaks.csv"), until=start)
        settings, known = result.settings, result.known_leak_pipes
        note = (
            f" [calibrated on {args.history.name}: threshold {settings.detect_score:g}, "
            f"{len(known)} known leaks]"
        )
        print(
            f"calibration: {time.perf_counter() - wall0:.0f} s wall, {time.process_time() - cpu0:.0f} s CPU; "
            f"{result.history_detections} reports on history, {result.history_false} false"
        )
    wall1, cpu1 = time.perf_counter(), time.process_time()
    found = detect(network, data, settings=settings, known_leak_pipes=known)
    wall, cpu = time.perf_counter() - wall1, time.process_time() - cpu1
    if args.out:
        write_detections(args.out, [(d.pipe, d.time) for d in found])
    show("model-based detector", [(d.pipe, d.time) for d in found], note)
    print(f"\ndetector run: {wall:.0f} s wall, {cpu:.0f} s CPU for {len(data)} steps ({len(found)} reports)")
    for d in found:
        top = d.evidence[0] if d.evidence else None
        why = f"{top.sensor} {top.deviation:+.2f} {top.unit}" if top else ""
        print(
            f"  {d.time:%Y-%m-%d %H:%M}  {d.pipe:<6} {d.flow:6.1f} m³/h  onset {d.onset:%m-%d %H:%M}  "
            f"P(≤300 m) {d.candidates[0].probability:.2f}  {'moved ' if d.relocated else ''}{why}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
