"""Pages of the 15-minute circle and of resources, as each role sees them; forms refuse bad input
with a message on the page and save nothing."""

from sqlalchemy import func, select

from cityloop.livability.models import SitePlan, TaskProposal
from cityloop.resources.models import IdleSpace
from tests.org.test_web_auth import csrf_of, sign_in


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def test_home_links_follow_the_role(client) -> None:
    sign_in(client, "street")
    home = client.get("/").text
    assert 'href="/livability"' in home and 'href="/resources/buildings"' in home
    client.cookies.clear()
    sign_in(client, "department")
    assert 'href="/livability"' not in client.get("/").text


def test_street_sees_its_own_coverage_and_gaps(client) -> None:
    sign_in(client, "street")
    page = client.get("/livability")
    assert page.status_code == 200
    assert "杨家坪街道" in page.text and "黄桷坪街道" not in page.text
    assert 'id="map"' in page.text and "echarts.min.js" in page.text
    assert 'action="/livability/runs"' not in page.text  # recomputing is for district roles
    assert client.get("/livability/siting").status_code == 403


def test_citizen_gets_no_livability_or_resources_pages(client) -> None:
    sign_in(client, "citizen")
    for url in ("/livability", "/livability/data", "/resources/idle-spaces", "/resources/buildings"):
        assert client.get(url, headers={"Accept": "text/html"}).status_code == 403


def test_siting_form_refuses_bad_k_then_plans_and_proposes_a_task(client, db) -> None:
    sign_in(client, "leader")
    page = client.get("/livability/siting")
    before = count(db, SitePlan)
    form = {
        "csrf": csrf_of(page.text),
        "type": "elderly_canteen",
        "k": "999",
        "method": "mclp",
        "minutes": "15",
    }
    bad = client.post("/livability/siting", data=form)
    assert bad.status_code == 422 and 'role="alert"' in bad.text and "k=999" in bad.text
    assert count(db, SitePlan) == before
    ok = client.post("/livability/siting", data={**form, "k": "2"}, follow_redirects=False)
    assert ok.status_code == 303
    plan_page = client.get(ok.headers["location"])
    assert plan_page.text.count("propose-task") == 2
    site_id = plan_page.text.split('data-site="')[1].split('"')[0]
    done = client.post(f"/livability/plan-sites/{site_id}/propose-task", data={"csrf": form["csrf"]})
    assert done.status_code == 200 and "SHQ-" in done.text
    assert count(db, TaskProposal) == 1
    # The badge links to the programme task the click created (issue #7).
    proposal = db.scalar(select(TaskProposal))
    task_id = proposal.task_ref.split(":")[1]
    assert f'href="/programme/tasks/{task_id}"' in done.text
    assert client.get(f"/programme/tasks/{task_id}").status_code == 200


def test_data_page_import_shows_every_bad_row(client, db) -> None:
    sign_in(client, "street")
    page = client.get("/livability/data")
    assert "杨家坪" in page.text and "黄桷坪示意小区" not in page.text
    csv_bytes = "name,lon,lat,population,elderly_population\n甲,106.512,29.508,-4,0\n乙,106.520,29.482,10,1\n"
    r = client.post(
        "/livability/data/import",
        data={"csrf": csrf_of(page.text), "kind": "areas"},
        files={"file": ("a.csv", csv_bytes.encode(), "text/csv")},
    )
    assert r.status_code == 422 and "2/population" in r.text and "黄桷坪街道" in r.text


def test_idle_space_form_and_status_buttons(client, db) -> None:
    sign_in(client, "street")
    page = client.get("/resources/idle-spaces")
    assert page.status_code == 200 and 'id="idle-table"' in page.text
    csrf = csrf_of(page.text)
    before = count(db, IdleSpace)
    form = {
        "csrf": csrf,
        "name": "空置门面",
        "lon": "116.4",
        "lat": "39.9",
        "area_m2": "80",
        "owner": "某公司",
        "condition": "good",
    }
    bad = client.post("/resources/idle-spaces", data=form)
    assert bad.status_code == 422 and "不在本区范围内" in bad.text and count(db, IdleSpace) == before
    ok = client.post(
        "/resources/idle-spaces", data={**form, "lon": "106.512", "lat": "29.508"}, follow_redirects=False
    )
    assert ok.status_code == 303
    new = db.scalar(select(IdleSpace).where(IdleSpace.name == "空置门面"))
    client.post(f"/resources/idle-spaces/{new.id}/plan", data={"csrf": csrf})
    db.refresh(new)
    assert new.status == "planned"
    wrong = client.post(f"/resources/idle-spaces/{new.id}/vacate", data={"csrf": csrf})
    assert wrong.status_code == 409 and 'role="alert"' in wrong.text


def test_buildings_page_in_english_shows_grades_and_drivers(client) -> None:
    sign_in(client, "supervisor")
    client.get("/lang/en?next=/")
    page = client.get("/resources/buildings?period=2026-Q3")
    assert page.status_code == 200 and 'id="ranking"' in page.text
    assert "grade-" in page.text and "What drove the change" in page.text


def test_the_department_leading_the_circle_finds_it_on_its_home_page(client, db) -> None:
    from cityloop.core.audit import Actor
    from cityloop.org import service as org

    org.create_user(
        db, actor=Actor("test"), username="mzj", password="pw-mzj-12345", role="department",
        unit=org.find_unit(db, ref="dept-mzj"),
    )  # fmt: skip
    db.commit()
    sign_in(client, "mzj", "pw-mzj-12345")
    home = client.get("/").text
    assert 'href="/livability"' in home
    assert client.get("/livability").status_code == 200
