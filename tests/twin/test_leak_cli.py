"""``cityloop twin detect-leaks`` on bad input: one clear line, exit status 2, no output file."""

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import wntr
from typer.testing import CliRunner

from cityloop.cli import app
from cityloop.twin.leaks.simulate import simulate
from tests.twin.leak_nets import grid

runner = CliRunner()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Six hours of a quiet grid, as gzipped CSV, and the network as an .inp file."""
    net, layout = grid()
    root = tmp_path_factory.mktemp("cli")
    scada = simulate(
        net, layout, [], start=datetime(2020, 1, 1), end=datetime(2020, 1, 1, 6), out_dir=root / "scada"
    )
    inp = root / "grid.inp"
    wntr.network.write_inpfile(net.wn, str(inp))
    return scada, inp


def plain_copy(src: Path, dst: Path, edit=None) -> Path:
    """The directory as plain CSV, each frame optionally edited."""
    dst.mkdir()
    for kind in ("pressures", "flows", "demands"):
        frame = pd.read_csv(src / f"{kind}.csv.gz")
        frame = edit(kind, frame) if edit else frame
        frame.to_csv(dst / f"{kind}.csv", index=False)
    (dst / "leaks.csv").write_text("pipe,start,end\n")
    return dst


def run(inp: Path, scada: Path, out: Path, *extra: str):
    return runner.invoke(
        app,
        [
            "twin",
            "detect-leaks",
            "--network",
            str(inp),
            "--scada",
            str(scada),
            "--out",
            str(out),
            "--quiet",
            *extra,
        ],
    )


def assert_refused(result, out: Path, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert fragment in result.output
    assert not out.exists()


def test_plain_csv_in_the_same_layout_is_accepted(base, tmp_path) -> None:
    scada, inp = base
    plain = plain_copy(scada, tmp_path / "plain")
    out = tmp_path / "out.txt"
    r = run(inp, plain, out)
    assert r.exit_code == 0, r.output
    assert out.exists() and out.read_text() == ""  # quiet network: nothing to report


def test_irregular_timestamps_are_refused(base, tmp_path) -> None:
    scada, inp = base
    bad = plain_copy(scada, tmp_path / "bad", lambda kind, f: f.drop(index=[30]))
    out = tmp_path / "out.txt"
    assert_refused(run(inp, bad, out), out, "not regular")


def test_a_sensor_the_network_does_not_have_is_refused(base, tmp_path) -> None:
    scada, inp = base
    rename = lambda kind, f: f.rename(columns={"n0_2": "n9_9"}) if kind == "pressures" else f  # noqa: E731
    bad = plain_copy(scada, tmp_path / "bad", rename)
    out = tmp_path / "out.txt"
    assert_refused(run(inp, bad, out), out, "n9_9")


def test_a_history_missing_a_sensor_column_is_refused(base, tmp_path) -> None:
    scada, inp = base
    drop = lambda kind, f: f.drop(columns=["n2_3"]) if kind == "pressures" else f  # noqa: E731
    history = plain_copy(scada, tmp_path / "history", drop)
    out = tmp_path / "out.txt"
    assert_refused(run(inp, scada, out, "--history", str(history)), out, "n2_3")


def test_unreadable_and_missing_files_are_refused(base, tmp_path) -> None:
    scada, inp = base
    broken = plain_copy(scada, tmp_path / "broken")
    (broken / "pressures.csv").unlink()
    (broken / "pressures.csv.gz").write_bytes(b"not gzip at all")
    out = tmp_path / "out.txt"
    assert_refused(run(inp, broken, out), out, "pressures.csv.gz")
    missing = plain_copy(scada, tmp_path / "missing")
    (missing / "flows.csv").unlink()
    assert_refused(run(inp, missing, out), out, "flows.csv")
    assert_refused(run(tmp_path / "nowhere.inp", scada, out), out, "nowhere.inp")


def test_a_file_without_a_timestamp_column_is_refused(base, tmp_path) -> None:
    scada, inp = base
    bad = plain_copy(scada, tmp_path / "bad", lambda kind, f: f.rename(columns={"Timestamp": "When"}))
    out = tmp_path / "out.txt"
    assert_refused(run(inp, bad, out), out, "Timestamp")
