"""Siting: the sparse MCLP model finds spopt's own optimum; p-median is offered for small problems."""

import warnings

import numpy as np
import pulp
from sqlalchemy import select
from typer.testing import CliRunner

from cityloop.cli import app
from cityloop.livability import siting
from cityloop.livability.models import PlanSite, SitePlan
from tests.livability.helpers import add_area, add_facility, small_world

runner = CliRunner()


def test_sparse_mclp_reaches_the_same_optimum_as_spopt_from_cost_matrix() -> None:
    from spopt.locate import MCLP

    rng = np.random.default_rng(11)
    covers = rng.random((60, 25)) < 0.12
    weights = rng.integers(1, 100, 60).astype(float)
    chosen = siting._solve_mclp(covers, weights, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        dense = MCLP.from_cost_matrix(np.where(covers, 0.0, 2.0), weights, service_radius=1.0, p_facilities=3)
        dense = dense.solve(pulp.PULP_CBC_CMD(msg=False))
    reference = [j for j, v in enumerate(dense.fac_vars) if v.value() > 0.5]
    assert len(chosen) == 3
    assert weights[covers[:, chosen].any(axis=1)].sum() == weights[covers[:, reference].any(axis=1)].sum()


def test_identical_clients_merge_with_their_weights() -> None:
    covers = np.array([[1, 0], [1, 0], [0, 1]], dtype=bool)
    unique, merged = siting._merge_identical(covers, np.array([2.0, 3.0, 7.0]))
    assert sorted(zip(map(tuple, unique.tolist()), merged.tolist(), strict=True)) == [
        ((False, True), 7.0),
        ((True, False), 5.0),
    ]


def test_pmedian_prefers_the_site_nearest_to_the_most_residents(db, tmp_path) -> None:
    small_world(db)
    add_area(db, 12, population=3000, elderly=300, name="大社区")
    add_area(db, 20, population=200, elderly=20, name="小社区")
    add_facility(db, 0, "park")
    db.commit()
    cands = tmp_path / "c.csv"
    cands.write_text("name,lon,lat\nA,106.514,29.508\nB,106.522,29.508\n")  # nodes 12 and 20
    r = runner.invoke(
        app,
        [
            "livability",
            "site",
            "--type",
            "park",
            "--k",
            "1",
            "--method",
            "pmedian",
            "--minutes",
            "5",
            "--candidates",
            str(cands),
        ],
    )
    assert r.exit_code == 0, r.output
    plan = db.scalar(select(SitePlan).order_by(SitePlan.id.desc()))
    site = db.scalar(select(PlanSite).where(PlanSite.plan_id == plan.id))
    assert plan.method == "pmedian" and plan.weight_by == "population" and site.name == "A"
    assert site.added_population == 3000


def test_pmedian_refuses_problems_too_big_for_the_solver(db, monkeypatch) -> None:
    monkeypatch.setattr(siting, "PMEDIAN_MAX_CELLS", 100)  # the demo's clinics: 15 idle spaces × >7 gaps
    before = db.scalar(select(SitePlan.id).order_by(SitePlan.id.desc()))
    r = runner.invoke(app, ["livability", "site", "--type", "clinic", "--k", "2", "--method", "pmedian"])
    assert r.exit_code == 2 and "too big" in r.output
    assert db.scalar(select(SitePlan.id).order_by(SitePlan.id.desc())) == before
