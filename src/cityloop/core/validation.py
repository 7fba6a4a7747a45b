"""The validation vocabulary every route shares: what an id, a page, a number, a time and a text may be.

Each rule lives here once; routers, forms, Open311, importers and the CLI use these types and helpers
instead of parsing by hand (``str.isdigit()`` accepts ``"²"``, which ``int()`` then refuses; a
Python int has no upper bound while both databases stop at 2^63 − 1). docs/api-validation.md lists
the rules; ``tests/core/test_validation_vocabulary.py`` fails when a route takes an unbounded
``int``, a ``float`` that may be infinite or a time without bounds.

- ids: ASCII digits only, 1 … 2^63 − 1; anything else is a 422 naming the parameter.
- paging: ``page`` 1 … ``MAX_PAGE``, ``offset`` 0 … ``MAX_OFFSET``, limits bounded per route.
- numbers: finite; integers within the databases' 64-bit range.
- times: time-zone aware, within ``TIME_MIN`` … ``TIME_MAX`` (dates within the same years).
- text: no control characters but tab, line feed and carriage return; no lone surrogates or U+FFFE/FFFF
  (they break XML, PostgreSQL refuses NUL).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar

from annotated_types import Ge, Le
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

MAX_INT = 2**63 - 1  # BIGINT on PostgreSQL, INTEGER on SQLite
MIN_INT = -MAX_INT
MAX_ID = MAX_INT
MAX_PAGE = 10_000
MAX_OFFSET = 1_000_000
# The years a stored time may fall in: wide for history, narrow enough that adding a deadline, a
# window or a time zone never leaves what Python and both databases can represent.
YEAR_MIN, YEAR_MAX = 1900, 2199
TIME_MIN = datetime(YEAR_MIN, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(YEAR_MAX, 12, 31, 23, 59, 59, tzinfo=UTC)
DATE_MIN, DATE_MAX = TIME_MIN.date(), TIME_MAX.date()
MAX_NUMBER_CHARS = 40  # a JSON number literal longer than this is refused before parsing

_DIGITS = re.compile(r"[0-9]{1,19}")
_SIGNED = re.compile(r"-?[0-9]{1,19}")
# Controls other than \t \n \r, DEL, C1 controls, lone surrogates, U+FFFE/U+FFFF: none is text.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_BAD_LINE_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


# --- integers ---------------------------------------------------------------------------------------


def parse_int(text: str, *, lo: int = MIN_INT, hi: int = MAX_INT) -> int | None:
    """``text`` as an integer written in ASCII digits (optional leading minus) within lo … hi, else None.

    The one hand parse of integers: forms, Open311, importers and the CLI call this."""
    text = text.strip()
    if not _SIGNED.fullmatch(text):
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def parse_id(text: str | None) -> int | None:
    """A record id from text (a form field, a path segment, a CSV cell): 1 … 2^63 − 1, else None."""
    if text is None:
        return None
    text = text.strip()
    return int(text) if _DIGITS.fullmatch(text) and 1 <= int(text) <= MAX_ID else None


def _ascii_int(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    if isinstance(value, str):
        if not _SIGNED.fullmatch(value):
            raise PydanticCustomError("int_ascii", "Input should be an integer written with the digits 0-9")
        return int(value)
    return value


# Any integer a route takes: ASCII digits, within the databases' 64-bit range.
Int = Annotated[int, BeforeValidator(_ascii_int), Ge(MIN_INT), Le(MAX_INT)]
# A record id in a path or query: 1 … 2^63 − 1.
Id = Annotated[Int, Ge(1), Le(MAX_ID)]
Page = Annotated[Int, Ge(1), Le(MAX_PAGE)]
Offset = Annotated[Int, Ge(0), Le(MAX_OFFSET)]


# --- numbers ----------------------------------------------------------------------------------------


def _finite(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise PydanticCustomError("float_parsing", "Input should be a valid number") from None
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > 2**1023:
            raise PydanticCustomError("finite_number", "Input should be a finite number")
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("finite_number", "Input should be a finite number")
    return value


Finite = Annotated[float, BeforeValidator(_finite)]


def finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (NaN, ±inf, overflow, not a number)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


# --- times ------------------------------------------------------------------------------------------


def time_problem(value: datetime) -> str | None:
    """Why ``value`` is no acceptable time (naive, or outside TIME_MIN … TIME_MAX), or None."""
    if value.tzinfo is None or value.utcoffset() is None:
        return "naive"
    if not YEAR_MIN <= value.year <= YEAR_MAX:
        return "range"
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        return "range"
    return None if TIME_MIN <= utc <= TIME_MAX else "range"


def parse_time(text: str) -> datetime:
    """An ISO-8601 time with a zone, within range, in UTC; ValueError (with a reason) otherwise."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("not an ISO-8601 time") from None
    problem = time_problem(value)
    if problem == "naive":
        raise ValueError("the time has no time zone")
    if problem == "range":
        raise ValueError(f"the time is outside {YEAR_MIN}–{YEAR_MAX}")
    return value.astimezone(UTC)


def _check_time(value: Any) -> Any:
    if isinstance(value, datetime):
        problem = time_problem(value)
        if problem == "naive":
            raise PydanticCustomError("timezone_aware", "Input should have a time zone")
        if problem == "range":
            raise PydanticCustomError(
                "time_range", "Input should be between {lo} and {hi}", {"lo": YEAR_MIN, "hi": YEAR_MAX}
            )
    return value


def _check_date(value: Any) -> Any:
    if isinstance(value, date) and not DATE_MIN <= value <= DATE_MAX:
        raise PydanticCustomError(
            "date_range", "Input should be between {lo} and {hi}", {"lo": YEAR_MIN, "hi": YEAR_MAX}
        )
    return value


def in_years(day: date) -> bool:
    """True when ``day`` (a date, or a time's date) falls in YEAR_MIN … YEAR_MAX: a month, a week or a
    date a route reads from text must, before any arithmetic on it."""
    return YEAR_MIN <= day.year <= YEAR_MAX


# A time a route takes (query or body): aware, within TIME_MIN … TIME_MAX.
Timestamp = Annotated[datetime, AfterValidator(_check_time)]
Day = Annotated[date, AfterValidator(_check_date)]


# --- text -------------------------------------------------------------------------------------------


def bad_char(text: str, *, multiline: bool = True) -> int | None:
    """Index of the first character no text may hold, or None."""
    found = (_BAD_CHARS if multiline else _BAD_LINE_CHARS).search(text)
    return found.start() if found else None


def strip_controls(text: str, *, multiline: bool = True) -> str:
    """``text`` without the characters no text may hold (imports keep the rest of the cell)."""
    return (_BAD_CHARS if multiline else _BAD_LINE_CHARS).sub("", text)


def clean_lines(lines: Iterable[str]) -> Iterator[str]:
    """The lines of an imported CSV without the characters no text may hold (the rest of each cell is
    kept: a stray control character in a 100,000-row history must not cost the import)."""
    for line in lines:
        yield _BAD_CHARS.sub("", line) if _BAD_CHARS.search(line) else line


def clean_cell(value: Any) -> Any:
    """A spreadsheet cell as ``clean_lines`` cleans CSV text; other values as they are."""
    return _BAD_CHARS.sub("", value) if isinstance(value, str) else value


def clean_row(row: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(clean_cell(v) for v in row)


def escape_controls(text: str) -> str:
    """``text`` with each character no text may hold written as ``\\uXXXX``: for keeping what a client
    sent (a dead letter's payload) without storing a NUL, which PostgreSQL refuses."""
    return _BAD_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# --- input models -----------------------------------------------------------------------------------


def check_value(value: Any) -> None:
    """Raise a PydanticCustomError when a (nested) input value breaks the vocabulary."""
    if isinstance(value, str):
        at = bad_char(value)
        if at is not None:
            raise PydanticCustomError(
                "control_character",
                "Text should not contain control characters (U+{char} at position {at})",
                {"char": f"{ord(value[at]):04X}", "at": at},
            )
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            raise PydanticCustomError(
                "int_range", "Input should be between {lo} and {hi}", {"lo": MIN_INT, "hi": MAX_INT}
            )
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("finite_number", "Input should be a finite number")
    elif isinstance(value, datetime):
        _check_time(value)
    elif isinstance(value, date):
        _check_date(value)
    elif isinstance(value, dict):
        for key, sub in value.items():
            check_value(key)
            check_value(sub)
    elif isinstance(value, list | tuple | set | frozenset):
        for sub in value:
            check_value(sub)


def _bound_integers(schema: dict[str, Any]) -> None:
    """Show the 64-bit bounds in the OpenAPI document of every integer without tighter ones."""
    kind = schema.get("type")
    if kind == "integer":
        schema.setdefault("minimum", MIN_INT)
        schema.setdefault("maximum", MAX_INT)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for sub in schema.get(key, []):
            if isinstance(sub, dict):
                _bound_integers(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _bound_integers(schema[key])
    for sub in schema.get("properties", {}).values():
        _bound_integers(sub)


_KEYWORDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def openapi_bounds(node: Any) -> Any:
    """Word the bounds as JSON Schema does (``minimum``/``maximum``) throughout the OpenAPI document.
    FastAPI copies the constraints of a nested ``Annotated`` parameter type (``Id``, ``Page``) under
    pydantic's names (``ge``/``le``), which clients and schemathesis ignore; the routes enforce them
    either way, the document should say so."""
    if isinstance(node, dict):
        if "type" in node:
            for short, long in _KEYWORDS.items():
                if isinstance(node.get(short), int | float) and not isinstance(node.get(short), bool):
                    node[long] = node.pop(short)
        for sub in node.values():
            openapi_bounds(sub)
    elif isinstance(node, list):
        for sub in node:
            openapi_bounds(sub)
    return node


class Input(BaseModel):
    """Every input model: unknown fields are an error, numbers finite, integers 64-bit, times aware and
    in range, text free of control characters. Nothing in a route needs to repeat these checks."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        allow_inf_nan=False,
        json_schema_extra=lambda schema, cls: _bound_integers(schema),
    )

    @field_validator("*", mode="after")
    @classmethod
    def _vocabulary(cls, value: Any) -> Any:
        check_value(value)
        return value


class Patch(Input):
    """A partial update: a field left out is kept; ``null`` is refused (422 naming the field) unless the
    field is listed in ``clearable`` — then ``null`` clears it. ``null`` never reaches a NOT NULL column."""

    clearable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _no_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.clearable:
            raise PydanticCustomError("null_not_allowed", "This field may be left out but not set to null")
        return value

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        schema: dict[str, Any] = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        for name, prop in target.get("properties", {}).items():
            options = prop.get("anyOf")
            if name in cls.clearable or not options:
                continue
            kept = [o for o in options if o.get("type") != "null"]
            if len(kept) == 1:
                prop.pop("anyOf")
                prop.update(kept[0])
            else:
                prop["anyOf"] = kept
            if prop.get("default", "") is None:
                prop.pop("default")
        return schema
