"""Classifier model files: a zip holding ``header.json`` and ``arrays.npz`` — data, never code.

The header says what the model is (format and version, kind, created, classes, the text fields it was
trained on, training metrics, library versions); ``unzip -p MODEL header.json`` shows it, and so does
``cityloop classifier info``. The arrays are read with ``allow_pickle=False``, so opening a model file
cannot run code, and a new scikit-learn cannot break an old model the way unpickling would. A file of
another format version is refused with one clear message: retrain it.
"""

from __future__ import annotations

import io
import json
import platform
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from cityloop.core import clock
from cityloop.core.errors import ValidationFailed
from cityloop.insight.classifier import Classifier, KeywordClassifier, LinearClassifier
from cityloop.insight.features import CategoryPrior, CharTfidf
from cityloop.insight.textio import write_bytes_atomic

FORMAT = "cityloop-classifier"
FORMAT_VERSION = 1
_HEADER = "header.json"
_ARRAYS = "arrays.npz"
_LIBRARIES = ("cityloop", "scikit-learn", "numpy", "scipy")


def dumps(model: Classifier, *, fields: Sequence[str] = ()) -> bytes:
    """The model file's bytes."""
    header: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": model.kind,
        "created": clock.now().isoformat(),
        "classes": list(model.classes),
        "fields": list(fields),
        "libraries": _library_versions(),
    }
    arrays: dict[str, np.ndarray] = {}
    if isinstance(model, KeywordClassifier):
        header["categories"] = {c: list(v) for c, v in model.prior.names.items()}
        header["temperature"] = model.temperature
    elif isinstance(model, LinearClassifier):
        header["categories"] = {c: list(v) for c, v in model.prior.names.items()} if model.prior else None
        header["temperature"] = model.temperature
        header["prior_weight"] = model.prior_weight
        header["ngram"] = {"full": list(model.full.ngram), "lead": list(model.lead.ngram)}
        header["training"] = model.training
        arrays = {
            "full_vocabulary": np.array(model.full.vocabulary, dtype=np.str_),
            "full_idf": model.full.idf,
            "lead_vocabulary": np.array(model.lead.vocabulary, dtype=np.str_),
            "lead_idf": model.lead.idf,
            "coef": model.coef.astype(np.float32),
            "intercept": model.intercept,
        }
    else:
        raise TypeError(f"cannot save a {type(model).__name__}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_HEADER, json.dumps(header, ensure_ascii=False, indent=2))
        packed = io.BytesIO()
        np.savez(packed, allow_pickle=False, **arrays)
        zf.writestr(_ARRAYS, packed.getvalue())
    return buffer.getvalue()


def save(model: Classifier, path: Path, *, fields: Sequence[str] = ()) -> None:
    """Write the model file atomically: a crash leaves the previous model in place."""
    write_bytes_atomic(path, dumps(model, fields=fields))


def read_header(path: Path) -> dict[str, Any]:
    """The header of a model file of this format version (else ``ValidationFailed``)."""
    with _open(path) as zf:
        return _header(zf, path)


def load(path: Path) -> Classifier:
    """Load a model file once; the result classifies any number of reports."""
    with _open(path) as zf:
        header = _header(zf, path)
        try:
            with zf.open(_ARRAYS) as fh, np.load(io.BytesIO(fh.read()), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            return _build(header, arrays)
        except (KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
            raise ValidationFailed("insight.error.model_broken", path=str(path), reason=str(exc)) from exc


def loads(data: bytes, *, name: str = "model") -> Classifier:
    """Load a model from its file's bytes (a model version kept in the database)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, TypeError) as exc:
        raise ValidationFailed("insight.error.not_a_model", path=name) from exc
    with zf:
        header = _header(zf, Path(name))
        try:
            with zf.open(_ARRAYS) as fh, np.load(io.BytesIO(fh.read()), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            return _build(header, arrays)
        except (KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
            raise ValidationFailed("insight.error.model_broken", path=name, reason=str(exc)) from exc


def header_of(data: bytes, *, name: str = "model") -> dict[str, Any]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, TypeError) as exc:
        raise ValidationFailed("insight.error.not_a_model", path=name) from exc
    with zf:
        return _header(zf, Path(name))


def _open(path: Path) -> zipfile.ZipFile:
    path = Path(path)
    if not path.is_file():
        raise ValidationFailed("insight.error.file_missing", path=str(path))
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValidationFailed("insight.error.not_a_model", path=str(path)) from exc


def _header(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    try:
        header = json.loads(zf.read(_HEADER).decode("utf-8"))
    except (KeyError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed("insight.error.not_a_model", path=str(path)) from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValidationFailed("insight.error.not_a_model", path=str(path))
    if header.get("format_version") != FORMAT_VERSION:
        raise ValidationFailed(
            "insight.error.model_version",
            path=str(path),
            found=header.get("format_version"),
            expected=FORMAT_VERSION,
        )
    return header


def _build(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Classifier:
    categories = header.get("categories")
    prior = CategoryPrior({c: list(v) for c, v in categories.items()}) if categories else None
    if header["kind"] == KeywordClassifier.kind and prior is not None:
        return KeywordClassifier(prior, temperature=float(header["temperature"]))
    if header["kind"] != LinearClassifier.kind:
        raise ValueError(f"unknown model kind {header['kind']!r}")
    ngram = header["ngram"]
    return LinearClassifier(
        classes=list(header["classes"]),
        full=CharTfidf(arrays["full_vocabulary"].tolist(), arrays["full_idf"], tuple(ngram["full"])),
        lead=CharTfidf(arrays["lead_vocabulary"].tolist(), arrays["lead_idf"], tuple(ngram["lead"])),
        prior=prior,
        prior_weight=float(header["prior_weight"]),
        coef=arrays["coef"].astype(np.float64),
        intercept=arrays["intercept"],
        temperature=float(header["temperature"]),
        training=dict(header.get("training") or {}),
    )


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions
