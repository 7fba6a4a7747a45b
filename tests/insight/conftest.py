from __future__ import annotations

from pathlib import Path

import pytest

from tests.insight.synthetic import CATEGORIES, labelled_rows, write_csv


@pytest.fixture
def training_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "train.csv", labelled_rows())


@pytest.fixture
def categories_csv(tmp_path: Path) -> Path:
    rows = [{"一级": c, "二级": n} for c, names in CATEGORIES.items() for n in names]
    return write_csv(tmp_path / "categories.csv", rows)
