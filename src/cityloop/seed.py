"""``cityloop seed-demo``: every domain's demo data, in dependency order."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cityloop.org import demo as org_demo
from cityloop.twin import demo as twin_demo


def seed_all(session: Session, *, progress: Any = None) -> bool:
    """Load the demo district once; returns False when it was already there."""
    created = org_demo.seed(session)
    if progress is not None and created:
        progress.print(
            "organisation: district, streets/towns, grid cells, departments, task forces, accounts"
        )
    if twin_demo.seed(session) and progress is not None:
        progress.print("digital twin: Net3 water, SWMM drainage and pandapipes gas networks with sensors")
    return created
