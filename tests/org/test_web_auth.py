"""Web sign-in: session cookie, CSRF, lockout, language, scoped pages."""

import re

from cityloop.org.demo import DEMO_PASSWORD


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client, username: str, password: str = DEMO_PASSWORD):
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf": csrf_of(page.text), "next": "/"},
        follow_redirects=False,
    )


def test_pages_need_a_sign_in(client) -> None:
    r = client.get("/admin/units", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/admin/units"


def test_sign_in_lands_on_the_role_home_in_chinese(client) -> None:
    r = sign_in(client, "dispatcher")
    assert r.status_code == 303 and r.headers["location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "指挥中心" in home.text and "区域地图" in home.text and 'lang="zh-CN"' in home.text


def test_language_switch_to_english(client) -> None:
    sign_in(client, "street")
    client.get("/lang/en?next=/")
    home = client.get("/")
    assert 'lang="en"' in home.text and "Street/town staff" in home.text


def test_wrong_password_is_shown_on_the_form(client) -> None:
    r = sign_in(client, "street", "wrong-password")
    assert r.status_code == 401 and "用户名或密码错误" in r.text


def test_repeated_failures_make_the_next_attempt_wait(client) -> None:
    from datetime import UTC, datetime

    from cityloop.core.clock import FrozenClock, set_clock

    clock = FrozenClock(datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    set_clock(clock)
    for _ in range(5):
        assert sign_in(client, "street2", "wrong-password").status_code == 401
    waiting = sign_in(client, "street2")  # even the right password waits its turn
    assert waiting.status_code == 429 and "请 30 秒后再试" in waiting.text and "10:00:30" in waiting.text
    clock.advance(seconds=31)
    assert sign_in(client, "street2").status_code == 303


def test_login_without_csrf_token_is_refused(client) -> None:
    client.get("/login")
    r = client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD, "csrf": "forged"})
    assert r.status_code == 403


def test_cookie_session_write_without_csrf_header_is_refused(client) -> None:
    sign_in(client, "admin")
    r = client.post(
        "/api/v1/units", json={"code": "x1", "name": "n", "kind": "grid", "parent": "500107001000-C1"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"


def test_street_staff_see_only_their_units_in_the_tree(client) -> None:
    sign_in(client, "street")
    page = client.get("/admin/units")
    assert "杨家坪街道" in page.text and "黄桷坪街道" not in page.text
    assert client.get("/admin/units/500107002000").status_code == 404
    assert client.get("/admin/users").status_code == 403


def test_admin_edits_a_unit_and_a_bad_geometry_is_shown_not_saved(client) -> None:
    sign_in(client, "admin")
    form = client.get("/admin/units/500107001000-C1-G1")
    token = csrf_of(form.text)
    version = re.search(r'name="version" value="(\d+)"', form.text).group(1)
    r = client.post(
        "/admin/units/500107001000-C1-G1",
        data={
            "csrf": token,
            "version": version,
            "code": "500107001000-C1-G1",
            "name": "改名网格",
            "parent": "500107001000-C1",
            "geometry": '{"type": "Point", "coordinates": [1, 2]}',
        },
    )
    assert r.status_code == 422 and "Polygon" in r.text
    assert "改名网格" in r.text  # the user's input is kept on the form
    page = client.get("/admin/units")
    assert "改名网格" not in page.text


def test_html_in_names_is_shown_as_text(client) -> None:
    sign_in(client, "admin")
    form = client.get("/admin/units/new")
    r = client.post(
        "/admin/units",
        data={
            "csrf": csrf_of(form.text),
            "code": "xss-1",
            "name": "<script>alert(1)</script>",
            "kind": "grid",
            "parent": "500107001000-C1",
        },
        follow_redirects=True,
    )
    assert r.status_code == 200
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text


def test_logout_ends_the_session(client) -> None:
    sign_in(client, "admin")
    home = client.get("/")
    client.post("/logout", data={"csrf": csrf_of(home.text)})
    assert client.get("/", follow_redirects=False).status_code == 303


def test_admin_adds_a_named_person_to_a_unit(client) -> None:
    sign_in(client, "admin")
    form = client.get("/admin/units/500107001000")
    r = client.post(
        "/admin/units/500107001000/people",
        data={"csrf": csrf_of(form.text), "name": "张敏", "title": "城管科科长"},
    )
    assert r.status_code == 200 and "张敏" in r.text and "城管科科长" in r.text


def test_street_staff_cannot_add_people(client) -> None:
    sign_in(client, "street")
    page = client.get("/admin/units/500107001000")
    r = client.post(
        "/admin/units/500107001000/people",
        data={"csrf": csrf_of(page.text) if 'name="csrf"' in page.text else "", "name": "x"},
    )
    assert r.status_code == 403


def test_admin_deactivates_an_account_from_its_page(client) -> None:
    sign_in(client, "admin")
    page = client.get("/admin/users/street2")
    assert page.status_code == 200 and "黄桷坪街道工作人员" in page.text
    r = client.post(
        "/admin/users/street2",
        data={
            "csrf": csrf_of(page.text),
            "display_name": "黄桷坪(停用)",
            "role": "street",
            "unit": "500107002000",
        },
    )
    assert r.status_code == 200 and "已保存" in r.text
    assert "已停用" in client.get("/admin/users").text
    bad = client.post(
        "/admin/users/street2",
        data={
            "csrf": csrf_of(page.text),
            "role": "street",
            "unit": "500107002000",
            "active": "on",
            "password": "short",
        },
    )
    assert bad.status_code == 422 and "至少 8" in bad.text
