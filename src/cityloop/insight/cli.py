"""``cityloop classifier …`` and ``cityloop hotspots``: report intelligence from CSV/Excel files.

Every command reads and checks all its input before it writes anything, and writes through a temporary
file that is renamed into place, so a bad input leaves no output behind (one error line, exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cityloop.core.cliutil import COUNT, cli_errors, console
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
    out: Path = typer.Option(..., "--out", help="model file to write"),
    csv_file: Path = typer.Option(None, "--csv", help="labelled reports (CSV or Excel)"),
    text: str = typer.Option(None, "--text", help=_TEXT_HELP),
    label: str = typer.Option(None, "--label", help="column holding the category"),
    categories: Path = typer.Option(None, "--categories", help=_CATEGORIES_HELP),
    unlabelled: Path = typer.Option(
        None,
        "--unlabelled",
        help="more reports without labels (same text columns): vocabulary, self-training",
    ),
    from_db: bool = typer.Option(
        False, "--from-db", help="train on the database's closed cases (label: their category)"
    ),
    register: bool = typer.Option(False, "--register", help="also store it as a new version in the database"),
    activate: bool = typer.Option(False, "--activate", help="… and make intake use it (implies --register)"),
) -> None:
    """Train a classifier from a file (rows with text but no label count as unlabelled) or from the
    database's closed cases; optionally store it as a model version."""
    from cityloop.insight import modelfile, textio
    from cityloop.insight.training import train

    if from_db == bool(csv_file):
        raise ValidationFailed("insight.error.from_db_or_csv")
    columns: list[str] = []
    if from_db:
        from cityloop.core.db import session_scope
        from cityloop.insight import registry

        with session_scope(write=False) as session:
            model, _info = registry.train_from_db(session)
    else:
        if not text or not label:
            raise ValidationFailed("insight.error.no_columns_named")
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
    if register or activate:
        _register(out, source="db:closed-cases" if from_db else f"csv:{csv_file.name}", activate=activate)


def _register(path: Path, *, source: str, activate: bool) -> None:
    from cityloop.core import audit
    from cityloop.core.db import session_scope
    from cityloop.insight import registry

    with session_scope() as session:
        row = registry.register(
            session,
            actor=audit.Actor("cli"),
            data=path.read_bytes(),
            source=source,
            file_path=str(path.resolve()),
            activate=activate,
        )
        version = row.version
    state = "active" if activate else "not active"
    console.print(f"stored as version {version} ({state})", markup=False, highlight=False)


@classifier_app.command("register")
@cli_errors
def register_cmd(
    model_file: Path = typer.Option(..., "--model", help="model file (from train or rules)"),
    activate: bool = typer.Option(False, "--activate", help="make intake use it"),
) -> None:
    """Store a model file as a new version in the database (checked first: it must fit the categories)."""
    from cityloop.insight import modelfile

    modelfile.read_header(model_file)
    _register(model_file, source=f"file:{model_file.name}", activate=activate)


@classifier_app.command("activate")
@cli_errors
def activate_cmd(
    version: int = typer.Argument(..., help="version to use at intake; 0 = keyword rules", parser=COUNT),
) -> None:
    """Make a stored version the one intake uses (every process switches within seconds)."""
    from cityloop.core import audit
    from cityloop.core.db import session_scope
    from cityloop.insight import registry

    if version < 0:
        raise ValidationFailed("insight.error.model_not_found", version=version)
    with session_scope() as session:
        registry.activate_version(session, actor=audit.Actor("cli"), version=version)
    label = f"version {version}" if version else "keyword rules"
    console.print(f"intake now uses {label}", markup=False, highlight=False)


@classifier_app.command("models")
@cli_errors
def models_cmd() -> None:
    """List the stored versions; the active one is marked with *."""
    from cityloop.core.clock import isoformat
    from cityloop.core.db import session_scope
    from cityloop.insight import registry

    with session_scope(write=False) as session:
        rows = registry.list_models(session)
        if not any(m.active for m in rows):
            print("* 0  keyword rules from category names")
        for m in rows:
            f1 = (m.metrics or {}).get("cv_macro_f1")
            f1_text = f"macro-F1 {f1:.3f}" if isinstance(f1, int | float) else ""
            print(
                f"{'*' if m.active else ' '} {m.version:<3d} {m.kind:<8s} {isoformat(m.trained_at)}  "
                f"{m.source}  {len(m.classes)} classes  {f1_text}"
            )


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
