"""Twin pages: the operator's networks, the network map page, a warning page; scoped like the API."""

from __future__ import annotations

from sqlalchemy import select

from cityloop.twin.models import TwinWarning
from tests.org.test_web_auth import sign_in


def test_operator_home_links_to_the_twin_and_lists_only_their_networks(client) -> None:
    sign_in(client, "operator")
    home = client.get("/")
    assert 'href="/twin"' in home.text
    page = client.get("/twin")
    assert page.status_code == 200
    assert 'data-network="demo-water"' in page.text and 'data-network="demo-gas"' not in page.text
    assert client.get("/twin/networks/demo-gas").status_code == 404


def test_network_page_has_the_map_and_sensor_table_in_both_languages(client) -> None:
    sign_in(client, "operator-gas")
    page = client.get("/twin/networks/demo-gas")
    assert page.status_code == 200 and 'id="twin-map"' in page.text
    assert 'data-sensor="G-CH4-1"' in page.text and "传感器" in page.text
    client.get("/lang/en?next=/")
    assert "Sensors" in client.get("/twin/networks/demo-gas").text


def test_warning_page_shows_history_and_impact(client, db) -> None:
    from typer.testing import CliRunner

    from cityloop.cli import app

    assert (
        CliRunner().invoke(app, ["twin", "simulate", "--scenario", "gas-leak", "--minutes", "20"]).exit_code
        == 0
    )
    w = db.scalar(select(TwinWarning).where(TwinWarning.cause == "high", TwinWarning.level == "red"))
    assert w is not None and w.case_state == "requested"
    sign_in(client, "operator-gas")
    page = client.get(f"/twin/warnings/{w.id}")
    assert page.status_code == 200 and 'id="impact"' in page.text and "红色" in page.text
    assert client.get(f"/twin/warnings/{w.id}").text.count("<tr>") >= 2
    client.cookies.clear()
    sign_in(client, "operator")  # water operator: another utility's warning is not there
    assert client.get(f"/twin/warnings/{w.id}").status_code == 404


def test_citizen_cannot_open_twin_pages(client) -> None:
    sign_in(client, "citizen")
    assert client.get("/twin").status_code == 403
