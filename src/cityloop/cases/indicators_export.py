"""Indicators as an Excel workbook (openpyxl): a sheet per grouping, the trend, and the definitions."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from cityloop.cases.indicators import COUNT_NAMES, RATES, Result, Row
from cityloop.core.i18n import translate


def row_name(r: Row, locale: str, group_by: str) -> str:
    if r.key == "total":
        return translate("cases.indicators.total", locale)
    if r.key is None:
        return translate(f"cases.indicators.none.{group_by}", locale)
    return r.name


def _pct(v: float | None) -> float | None:
    return round(v * 100, 2) if v is not None else None


def header(locale: str, first: str) -> list[str]:
    out = [translate(first, locale), translate("cases.indicators.code", locale)]
    out += [translate(f"cases.indicators.rate.{k}", locale) + " %" for k in RATES]
    out += [translate(f"cases.indicators.count.{k}", locale) for k in COUNT_NAMES]
    return out


def values(r: Row, locale: str, group_by: str) -> list[Any]:
    code = r.key if r.key not in (None, "total") else ""
    out: list[Any] = [row_name(r, locale, group_by), code]
    out += [_pct(v) for v in r.rates.values()]
    out += [getattr(r.counts, k) for k in COUNT_NAMES]
    return out


def to_excel(results: dict[str, Result], *, locale: str) -> bytes:
    """``results``: one Result per grouping (``unit``, ``street``), all for the same window."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    first = next(iter(results.values()))
    w = first.window
    bold = Font(bold=True)
    sheets = wb.worksheets
    for i, (group_by, res) in enumerate(results.items()):
        ws = sheets[0] if i == 0 else wb.create_sheet()
        ws.title = translate(f"cases.indicators.sheet.{group_by}", locale)
        ws.append(
            [translate("cases.indicators.title", locale), f"{w.first.isoformat()} – {w.last.isoformat()}"]
        )
        ws.append(header(locale, f"cases.indicators.group.{group_by}"))
        for cell in ws[2]:
            cell.font = bold
        for r in res.rows:
            ws.append(values(r, locale, group_by))
        ws.append(values(res.total, locale, group_by))
        for cell in ws[ws.max_row]:
            cell.font = bold
        ws.freeze_panes = "C3"
    ts = wb.create_sheet(translate("cases.indicators.sheet.trend", locale))
    ts.append(header(locale, "cases.indicators.bucket")[:1] + header(locale, "cases.indicators.bucket")[2:])
    for b, c in first.trend:
        ts.append(
            values(Row(b.label, b.label, None, c), locale, "unit")[:1]
            + values(Row(b.label, b.label, None, c), locale, "unit")[2:]
        )
    ds = wb.create_sheet(translate("cases.indicators.sheet.definitions", locale))
    ds.append(
        [
            translate("cases.indicators.indicator", locale),
            translate("cases.indicators.formula", locale),
            translate("cases.indicators.definition", locale),
        ]
    )
    for cell in ds[1]:
        cell.font = bold
    for k, (num, den) in RATES.items():
        formula = " + ".join(translate(f"cases.indicators.count.{n}", locale) for n in num)
        formula += " / " + translate(f"cases.indicators.count.{den}", locale)
        ds.append(
            [
                translate(f"cases.indicators.rate.{k}", locale),
                formula,
                translate(f"cases.indicators.def.{k}", locale),
            ]
        )
    ds.append([])
    ds.append(
        [
            translate("cases.indicators.def.basis_title", locale),
            translate("cases.indicators.def.basis", locale),
        ]
    )
    ds.append(
        [
            translate("cases.indicators.def.merged_title", locale),
            translate("cases.indicators.def.merged", locale),
        ]
    )
    ds.append([translate("cases.indicators.computed_at", locale), first.computed_at.isoformat()])
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
