"""``cityloop twin detect-leaks``: batch leak detection over a SCADA directory."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cityloop.core.cliutil import cli_errors, console, err_console
from cityloop.twin.leaks.records import Detection, DetectorSettings


@cli_errors
def detect_leaks(
    network: str = typer.Option(..., "--network", help="network name, or a path to an EPANET .inp file"),
    scada: Path = typer.Option(..., "--scada", help="directory of pressures/flows/levels/demands .csv[.gz]"),
    out: Path = typer.Option(
        ..., "--out", help="file for the detections: one 'pipeID, YYYY-MM-DD HH:MM' a line"
    ),
    history: Path | None = typer.Option(
        None, "--history", help="an earlier year of the same network with its leaks.csv, to calibrate on"
    ),
    details: Path | None = typer.Option(None, "--json", help="also write the detections with their evidence"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Find leaks in a directory of SCADA readings: when, which pipe, and why."""
    from cityloop.twin.leaks.batch import calibrate, detect
    from cityloop.twin.leaks.network import resolve_network
    from cityloop.twin.leaks.scada import read_leaks, read_scada, write_detections

    model = resolve_network(network)
    data = read_scada(scada)
    model.check_sensors(**{k: list(v) for k, v in data.layout.kinds().items()})
    started = time.perf_counter()
    settings: DetectorSettings | None = None
    known: tuple[str, ...] = ()
    with _progress(quiet) as bar:
        if history is not None:
            past = read_scada(history)
            data.check_same_sensors(past)
            leaks = read_leaks(history / "leaks.csv")
            task = bar.add_task("calibrating on history", total=len(past))
            result = calibrate(
                model, past, leaks, until=data.times[0].to_pydatetime(),
                progress=lambda done, _total: bar.update(task, completed=done),
            )  # fmt: skip
            settings, known = result.settings, result.known_leak_pipes
            err_console.print(
                f"history: {result.history_detections} reports, {result.history_false} false; "
                f"threshold {settings.detect_score:g}; {len(known)} leaks still open"
            )
        task = bar.add_task("detecting leaks", total=len(data))
        found = detect(
            model, data, settings=settings, known_leak_pipes=known,
            progress=lambda done, _total: bar.update(task, completed=done),
        )  # fmt: skip
    write_detections(out, [(d.pipe, d.time) for d in found])
    if details is not None:
        details.write_text(
            json.dumps([d.as_dict() for d in found], ensure_ascii=False, indent=1), encoding="utf-8"
        )
    _summary(found, out, time.perf_counter() - started)


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet,
        transient=True,
    )


def _summary(found: list[Detection], out: Path, seconds: float) -> None:
    table = Table(title=f"{len(found)} leak detections → {out}  ({seconds:.0f} s)")
    for col in ("time", "pipe", "m³/h", "since", "also likely", "strongest evidence"):
        table.add_column(col)
    for d in found:
        others = ", ".join(f"{c.pipe} {c.probability:.0%}" for c in d.candidates[1:3])
        top = d.evidence[0] if d.evidence else None
        why = f"{top.sensor} {top.deviation:+.2f} {top.unit}" if top else ""
        flag = " (moved)" if d.relocated else ""
        table.add_row(
            f"{d.time:%Y-%m-%d %H:%M}", d.pipe + flag, f"{d.flow:.1f}", f"{d.onset:%m-%d %H:%M}", others, why
        )
    console.print(table)
