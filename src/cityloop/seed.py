"""``cityloop seed-demo``: every domain's demo data, in dependency order."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cityloop.cases import demo as cases_demo
from cityloop.livability import demo as livability_demo
from cityloop.org import demo as org_demo
from cityloop.programme import demo as programme_demo
from cityloop.resources import demo as resources_demo
from cityloop.twin import demo as twin_demo


def seed_all(session: Session, *, progress: Any = None) -> bool:
    """Load the demo district once; returns False when it was already there."""
    created = org_demo.seed(session)
    if progress is not None and created:
        progress.print(
            "organisation: district, streets/towns, grid cells, departments, task forces, accounts"
        )
    cases = cases_demo.seed(session) if created else 0
    if progress is not None and cases:
        progress.print(f"cases: categories, routing rules and a month of {cases} cases")
    if programme_demo.seed(session) and progress is not None:
        progress.print("programme: the ten actions of 2026 with tasks, history, problems and supervision")
    if twin_demo.seed(session) and progress is not None:
        progress.print("digital twin: Net3 water, SWMM drainage and pandapipes gas networks with sensors")
    if resources_demo.seed(session) and progress is not None:
        progress.print("resources: idle spaces, buildings and their grading (schematic)")
    if livability_demo.seed(session) and progress is not None:
        progress.print(
            "15-minute circle: schematic walking grid, facilities, residential areas, accessibility"
        )
    return created
