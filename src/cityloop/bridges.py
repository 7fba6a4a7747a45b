"""Wiring between domains that must not import each other's internals.

Some domains hand work to another through a small Protocol with an in-process fallback
(``twin.case_bridge``, ``livability.task_bridge``). :func:`install` puts the real implementations in
place; the app, the worker and the CLI call it once at start. Tests that want the fallbacks call
:func:`uninstall`.
"""

from __future__ import annotations


def install() -> None:
    """Warnings open cases in the unified queue; chosen sites open programme tasks; every new case gets
    a suggested category."""
    from cityloop.cases import service
    from cityloop.insight import intake
    from cityloop.livability import task_bridge
    from cityloop.twin import case_bridge

    case_bridge.install()
    task_bridge.install()
    service.add_intake_hook(intake.HOOK)


def uninstall() -> None:
    from cityloop.cases import service
    from cityloop.insight import intake
    from cityloop.livability import task_bridge
    from cityloop.twin import case_bridge

    case_bridge.uninstall()
    task_bridge.set_bridge(None)
    service.remove_intake_hook(intake.HOOK)
