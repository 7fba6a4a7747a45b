"""``cityloop classifier …`` and ``cityloop hotspots``: report intelligence from CSV/Excel files.

Every command reads and checks all its input before it writes anything, and writes through a temporary
file that is renamed into place, so a bad input leaves no output behind (one error line, exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cityloop.core.cliutil import cli_errors, console
from cityloop.core.errors import ValidationFailed

if TYPE_CHECKING:
    from cityloop.insight.features import CategoryPrior
    from cityloop.insight.textio import Table

classifier_app = typer.Typer(help="Suggest report categories from text (train, predict, rules, info)")

_TEXT_HELP = "text column(s), comma-separated; the first is the title when there are several"
_CATEGORIES_HELP = (
    "category tree (CSV/Excel): first column the category, further columns its sub-category names"
)


@classifier_app.command("train")
@cli_errors
def train_cmd(
    csv_file: Path = typer.Option(..., "--csv", help="labelled reports (CSV or Excel)"),
    text: str = typer.Option(..., "--text", help=_TEXT_HELP),
    label: str = typer.Option(..., "--label", help="column holding the category"),
    out: Path = typer.Option(..., "--out", help="model file to write"),
    categories: Path = typer.Option(None, "--categories", help=_CATEGORIES_HELP),
    unlabelled: Path = typer.Option(
        None,
        "--unlabelled",
        help="more reports without labels (same text columns): vocabulary, self-training",
    ),
) -> None:
    """Train a classifier; rows with text but no label are used as unlabelled reports."""
    from cityloop.insight import modelfile, textio
    from cityloop.insight.training import train

    columns = textio.parse_columns(text)
    table = textio.read_table(csv_file)
    textio.require_text(table, columns)
    textio.require_columns(table, [label])
    if not any(v.strip() for v in table.column(label)):
        raise _column_empty(table, label)
    prior = _read_categories(categories) if categories else None
    extra: list[tuple[str, ...]] = []
    if unlabelled:
        more = textio.read_table(unlabelled)
        textio.require_text(more, columns)
        extra = textio.text_fields(more, columns)
    model = train(textio.text_fields(table, columns), table.column(label), unlabelled=extra, prior=prior)
    modelfile.save(model, out, fields=columns)
    t = model.training
    console.print(
        f"trained on {t['labelled']} labelled reports, {len(model.classes)} categories "
        f"({t['unlabelled']} unlabelled, {t['category_name_documents']} category names); "
        f"{t['cv_folds']}-fold macro-F1 {t['cv_macro_f1']:.3f}, accuracy {t['cv_accuracy']:.3f} → {out}",
        markup=False,
        highlight=False,
    )
    if t["dropped_classes"]:
        console.print(f"left out (fewer than 2 examples): {t['dropped_classes']}", markup=False)


@classifier_app.command("predict")
@cli_errors
def predict_cmd(
    model_file: Path = typer.Option(..., "--model", help="model file (from train or rules)"),
    csv_file: Path = typer.Option(..., "--csv", help="reports to classify (CSV or Excel)"),
    text: str = typer.Option(..., "--text", help=_TEXT_HELP),
    out: Path = typer.Option(..., "--out", help="CSV to write: the input rows + predicted, confidence"),
) -> None:
    """Add ``predicted`` and ``confidence`` columns to every row."""
    from cityloop.insight import modelfile, textio

    model = modelfile.load(model_file)
    columns = textio.parse_columns(text)
    table = textio.read_table(csv_file)
    textio.require_text(table, columns)
    predictions = model.predict(textio.text_fields(table, columns))
    header = [c for c in table.columns if c not in ("predicted", "confidence")]
    rows = (
        [*(row.get(c, "") for c in header), p.label, f"{p.confidence:.4f}"]
        for row, p in zip(table.rows, predictions, strict=True)
    )
    textio.write_csv_atomic(out, [*header, "predicted", "confidence"], rows)
    console.print(f"{len(predictions)} rows classified → {out}", markup=False, highlight=False)


@classifier_app.command("rules")
@cli_errors
def rules_cmd(
    categories: Path = typer.Option(..., "--categories", help=_CATEGORIES_HELP),
    out: Path = typer.Option(..., "--out", help="model file to write"),
) -> None:
    """Make a keyword-rule model from category names alone (no labelled reports needed)."""
    from cityloop.insight import modelfile
    from cityloop.insight.classifier import KeywordClassifier

    model = KeywordClassifier(_read_categories(categories))
    modelfile.save(model, out)
    console.print(f"keyword rules for {len(model.classes)} categories → {out}", markup=False)


@classifier_app.command("info")
@cli_errors
def info_cmd(model_file: Path = typer.Option(..., "--model")) -> None:
    """Print a model file's header (kind, classes, training metrics, library versions)."""
    import json

    from cityloop.insight import modelfile

    print(json.dumps(modelfile.read_header(model_file), ensure_ascii=False, indent=2))


def _read_categories(path: Path) -> CategoryPrior:
    from cityloop.insight import textio
    from cityloop.insight.features import CategoryPrior

    table = textio.read_table(path)
    prior = CategoryPrior.from_rows([[row.get(c, "") for c in table.columns] for row in table.rows])
    if not prior.classes:
        raise ValidationFailed("insight.error.no_categories", path=str(path))
    return prior


def _column_empty(table: Table, column: str) -> ValidationFailed:
    return ValidationFailed("insight.error.column_empty", path=str(table.path), column=column)


@cli_errors
def hotspots_cmd(
    csv_file: Path = typer.Option(..., "--csv", help="reports (CSV or Excel)"),
    id_column: str = typer.Option(..., "--id", help="column with each report's id"),
    text: str = typer.Option(..., "--text", help=_TEXT_HELP),
    time_column: str = typer.Option(..., "--time", help="column with when it was reported"),
    support: str = typer.Option(None, "--support", help="column with supporters / 'me too' counts"),
    out: Path = typer.Option(..., "--out", help="directory for hotspots.csv and members.csv"),
) -> None:
    """Find hotspots: many reports about one problem at one place, ranked by heat."""
    from cityloop.core import clock
    from cityloop.insight import textio
    from cityloop.insight.hotspots import find_hotspots, reports_from_table

    if out.exists() and not out.is_dir():
        raise ValidationFailed("insight.error.out_not_dir", path=str(out))
    table = textio.read_table(csv_file)
    reports = reports_from_table(
        table,
        id_column=id_column,
        text_columns=textio.parse_columns(text),
        time_column=time_column,
        support_column=support,
        zone=clock.display_zone(),
    )
    spots = find_hotspots(reports, zone=clock.display_zone())
    textio.write_csv_atomic(
        out / "hotspots.csv",
        ["rank", "hotspot_id", "heat", "start", "end", "place", "summary"],
        (
            [
                h.rank,
                h.hotspot_id,
                f"{h.heat:.2f}",
                clock.isoformat(h.start),
                clock.isoformat(h.end),
                h.place,
                h.summary,
            ]
            for h in spots
        ),
    )
    textio.write_csv_atomic(
        out / "members.csv", ["hotspot_id", "id"], ([h.hotspot_id, m] for h in spots for m in h.members)
    )
    grouped = sum(h.reports for h in spots)
    console.print(
        f"{len(spots)} hotspots among {len(reports)} reports ({grouped} in hotspots) → {out}",
        markup=False,
        highlight=False,
    )
