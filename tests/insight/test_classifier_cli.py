"""``cityloop classifier …``: train → predict round trip; bad input is one line, exit 2, no output file."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cityloop.cli import app
from cityloop.insight import modelfile
from tests.insight.synthetic import labelled_rows, rewrite_header, write_csv

runner = CliRunner()


def _train(training_csv: Path, out: Path, *extra: str) -> None:
    args = ["classifier", "train", "--csv", str(training_csv), "--text", "标题,内容", "--label", "类别"]
    r = runner.invoke(app, [*args, "--out", str(out), *extra])
    assert r.exit_code == 0, r.output


def test_train_then_predict_adds_predicted_and_confidence_to_every_row(
    tmp_path: Path, training_csv: Path, categories_csv: Path
) -> None:
    model = tmp_path / "model.clf"
    _train(training_csv, model, "--categories", str(categories_csv))
    new = labelled_rows(per_class=4, seed=42)
    for row in new:
        row["类别"] = ""  # the file to classify has no answers
    source = write_csv(tmp_path / "new.csv", new, encoding="gb18030")
    out = tmp_path / "predicted.csv"
    r = runner.invoke(
        app,
        [
            "classifier",
            "predict",
            "--model",
            str(model),
            "--csv",
            str(source),
            "--text",
            "标题,内容",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["编号", "标题", "内容", "类别", "predicted", "confidence"]
    assert [r["编号"] for r in rows] == [r["编号"] for r in new]
    truth = labelled_rows(per_class=4, seed=42)
    right = sum(r["predicted"] == t["类别"] for r, t in zip(rows, truth, strict=True))
    assert right >= 0.9 * len(rows)
    assert all(0.0 <= float(r["confidence"]) <= 1.0 for r in rows)


def test_rules_model_needs_no_training_and_info_shows_the_header(
    tmp_path: Path, categories_csv: Path
) -> None:
    model = tmp_path / "rules.clf"
    r = runner.invoke(app, ["classifier", "rules", "--categories", str(categories_csv), "--out", str(model)])
    assert r.exit_code == 0, r.output
    source = write_csv(
        tmp_path / "in.csv", [{"id": "1", "text": "小区门口乱停乱放"}, {"id": "2", "text": "你好"}]
    )
    out = tmp_path / "out.csv"
    r = runner.invoke(
        app,
        [
            "classifier",
            "predict",
            "--model",
            str(model),
            "--csv",
            str(source),
            "--text",
            "text",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["predicted"], r["confidence"]) for r in rows][1] == ("", "0.0000")
    assert rows[0]["predicted"] == "停车管理"
    info = runner.invoke(app, ["classifier", "info", "--model", str(model)])
    assert '"kind": "keywords"' in info.stdout


def _one_error_line(result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "content, text, fragment",
    [
        (b"", "标题", "is empty"),
        ("编号,标题\n".encode(), "标题", "no data rows"),
        ("编号,标题\n1,噪音\n".encode("utf-16"), "标题", "utf-8-sig"),
        ("编号,标题\n1,噪音\n".encode(), "内容", "has no column 内容"),
        ("编号,标题\n1,\n2,\n".encode(), "标题", "is empty"),
        ("编号,标题\n1,2019\n2,2020\n".encode(), "标题", "holds no text"),
    ],
)
def test_predict_refuses_bad_input_and_writes_nothing(
    tmp_path: Path, training_csv: Path, content: bytes, text: str, fragment: str
) -> None:
    model = tmp_path / "model.clf"
    _train(training_csv, model)
    source = tmp_path / "in.csv"
    source.write_bytes(content)
    out = tmp_path / "out.csv"
    r = runner.invoke(
        app,
        [
            "classifier",
            "predict",
            "--model",
            str(model),
            "--csv",
            str(source),
            "--text",
            text,
            "--out",
            str(out),
        ],
    )
    _one_error_line(r, fragment)
    assert not out.exists()


@pytest.mark.parametrize(
    "label, fragment",
    [("无此列", "has no column 无此列"), ("空", "is empty")],
)
def test_train_refuses_bad_labels_and_writes_no_model(tmp_path: Path, label: str, fragment: str) -> None:
    rows = [dict(r, 空="") for r in labelled_rows(per_class=4)]
    source = write_csv(tmp_path / "train.csv", rows)
    out = tmp_path / "model.clf"
    args = [
        "classifier",
        "train",
        "--csv",
        str(source),
        "--text",
        "标题,内容",
        "--label",
        label,
        "--out",
        str(out),
    ]
    _one_error_line(runner.invoke(app, args), fragment)
    assert not out.exists()


def test_a_model_from_another_format_version_is_one_clear_error(tmp_path: Path, training_csv: Path) -> None:
    model = tmp_path / "model.clf"
    _train(training_csv, model)
    assert modelfile.read_header(model)["format_version"] == 1
    rewrite_header(model, format_version=2)
    out = tmp_path / "out.csv"
    r = runner.invoke(
        app,
        [
            "classifier",
            "predict",
            "--model",
            str(model),
            "--csv",
            str(training_csv),
            "--text",
            "标题",
            "--out",
            str(out),
        ],
    )
    _one_error_line(r, "format version 2")
    assert not out.exists()


def test_a_failed_retrain_leaves_the_previous_model_in_place(tmp_path: Path, training_csv: Path) -> None:
    model = tmp_path / "model.clf"
    _train(training_csv, model)
    before = model.read_bytes()
    broken = tmp_path / "broken.csv"
    broken.write_text("标题,内容,类别\n", encoding="utf-8")
    args = [
        "classifier",
        "train",
        "--csv",
        str(broken),
        "--text",
        "标题,内容",
        "--label",
        "类别",
        "--out",
        str(model),
    ]
    _one_error_line(runner.invoke(app, args), "no data rows")
    assert model.read_bytes() == before
