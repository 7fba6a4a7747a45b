"""The case pages, server-side: reporting through the form (photos, double submit, bad input), the loop
driven through the action forms, refusals shown with their message (409/403/422), role and scope of
every page, and the public tracking page without personal data."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from cityloop.cases.models import Attachment, Case, CaseStep
from cityloop.core import clock
from tests.cases.helpers import HJP, YJP, point_in
from tests.org.test_web_auth import csrf_of, sign_in

HTML = {"Accept": "text/html"}
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478"
    "9c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)


def form_of(client: Any, path: str = "/cases/report") -> dict[str, str]:
    page = client.get(path, headers=HTML)
    assert page.status_code == 200, page.text
    idem = re.search(r'name="idem" value="([^"]+)"', page.text)
    return {"csrf": csrf_of(page.text), "idem": idem.group(1) if idem else ""}


def submit(client: Any, db: Any, *, files: Any = None, grid: str = f"{YJP}-C1-G1", **fields: Any) -> Any:
    lon, lat = point_in(db, grid)
    data = {"category": "SJ0102", "description": "路边堆放生活垃圾", "lon": str(lon), "lat": str(lat)}
    data.update(form_of(client))
    data.update(fields)
    return client.post("/cases/report", data=data, files=files, headers=HTML, follow_redirects=False)


def case_id(response: Any) -> int:
    assert response.status_code == 303, response.text
    return int(re.search(r"/cases/(\d+)", response.headers["location"]).group(1))


def act(client: Any, cid: int, action: str, **fields: Any) -> Any:
    page = client.get(f"/cases/{cid}", headers=HTML)
    version = re.search(r'name="version" value="(\d+)"', page.text)
    data = {"csrf": csrf_of(page.text), "version": version.group(1) if version else "1", **fields}
    files = fields.pop("files", None)
    data.pop("files", None)
    return client.post(
        f"/cases/{cid}/act/{action}", data=data, files=files, headers=HTML, follow_redirects=False
    )


def count(db: Any) -> int:
    return db.scalar(select(func.count()).select_from(Case))


def test_citizen_reports_with_pin_and_photo_and_a_double_submit_makes_one_case(client, db) -> None:
    sign_in(client, "citizen")
    home = client.get("/", headers=HTML).text
    assert 'href="/cases/report"' in home and 'href="/cases/mine"' in home
    form = form_of(client)
    lon, lat = point_in(db, f"{YJP}-C1-G1")
    data = {
        **form,
        "category": "SJ0102",
        "description": "<script>alert(1)</script> 垃圾",
        "lon": str(lon),
        "lat": str(lat),
    }
    before = count(db)
    first = client.post(
        "/cases/report",
        data=data,
        files=[("files", ("现场.png", PNG, "image/png"))],
        headers=HTML,
        follow_redirects=False,
    )
    cid = case_id(first)
    again = client.post(
        "/cases/report",
        data=data,
        files=[("files", ("现场.png", PNG, "image/png"))],
        headers=HTML,
        follow_redirects=False,
    )
    assert case_id(again) == cid and count(db) == before + 1
    assert db.scalar(select(func.count()).select_from(Attachment).where(Attachment.case_id == cid)) == 1
    page = client.get(f"/cases/{cid}?new=1", headers=HTML).text
    case = db.get(Case, cid)
    assert case.tracking_no in page and 'id="new-notice"' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "现场.png" in page
    assert case.tracking_no in client.get("/cases/mine", headers=HTML).text


def test_bad_reports_show_the_reason_and_save_nothing(client, db) -> None:
    sign_in(client, "citizen")
    before = count(db)
    outside = submit(client, db, lon="106.10", lat="29.90")
    assert outside.status_code == 422 and "不在本辖区内" in outside.text
    assert 'value="路边堆放生活垃圾"' in outside.text or "路边堆放生活垃圾" in outside.text  # kept
    bad_file = submit(client, db, files=[("files", ("x.png", b"not an image", "image/png"))])
    assert bad_file.status_code == 422 and "不支持的附件类型" in bad_file.text
    unknown = submit(client, db, category="XX9999")
    assert unknown.status_code == 422 and "未知的案件类别" in unknown.text
    too_long = submit(client, db, description="长" * 4001)
    assert too_long.status_code == 422 and "4000" in too_long.text
    nowhere = submit(client, db, lon="", lat="")
    assert nowhere.status_code == 422 and "请在地图上选点或填写地址" in nowhere.text
    not_number = submit(client, db, lon="abc")
    assert not_number.status_code == 422
    client.get("/lang/en?next=/")
    english = submit(client, db, lon="106.10", lat="29.90")
    assert english.status_code == 422 and "outside" in english.text.lower()
    assert count(db) == before
    forged = submit(client, db, csrf="forged")
    assert forged.status_code == 403 and count(db) == before


def test_the_loop_through_the_forms_and_refusals_in_the_users_language(client, db) -> None:
    sign_in(client, "citizen")
    cid = case_id(submit(client, db, description="楼下垃圾堆了三天"))
    tracking_no = db.get(Case, cid).tracking_no

    sign_in(client, "dispatcher")
    queue = client.get("/cases/queue", headers=HTML).text
    assert tracking_no in queue and 'data-quick="register"' in queue
    illegal = act(client, cid, "close")
    assert illegal.status_code == 409 and 'id="action-error"' in illegal.text and "不能" in illegal.text
    client.get("/lang/en?next=/")
    assert "close" in act(client, cid, "close").text.lower()
    client.get("/lang/zh-CN?next=/")
    stale = client.post(
        f"/cases/{cid}/act/register",
        data={"csrf": csrf_of(queue), "version": "99"},
        headers=HTML,
        follow_redirects=False,
    )
    assert stale.status_code == 409 and "action-error" in stale.text
    void_without_reason = act(client, cid, "void")
    assert void_without_reason.status_code == 422
    assert act(client, cid, "register").status_code == 303
    page = client.get(f"/cases/{cid}", headers=HTML).text
    assert 'id="act-dispatch"' in page and 'id="suggested-unit"' in page and "杨家坪街道" in page
    assert act(client, cid, "dispatch", unit=YJP).status_code == 303

    sign_in(client, "street2")  # another street: the case does not exist for it
    assert client.get(f"/cases/{cid}", headers=HTML).status_code == 404
    assert tracking_no not in client.get("/cases/inbox", headers=HTML).text

    sign_in(client, "street")
    inbox = client.get("/cases/inbox", headers=HTML).text
    assert tracking_no in inbox and 'data-quick="accept"' in inbox and 'data-colour="green"' in inbox
    assert act(client, cid, "accept").status_code == 303
    assert act(client, cid, "progress", note="已安排清运").status_code == 303
    fb = act(
        client,
        cid,
        "feedback",
        note="已清运完毕",
        public_note="垃圾已清运",
        files=[("files", ("清运后.png", PNG, "image/png"))],
    )
    assert fb.status_code == 303, fb.text
    evidence = db.scalars(select(Attachment).where(Attachment.case_id == cid)).all()
    assert [a.purpose for a in evidence] == ["evidence"]

    sign_in(client, "inspector")
    assert tracking_no in client.get("/cases/queue?state=feedback", headers=HTML).text
    assert act(client, cid, "verify_pass", note="现场已清理").status_code == 303

    sign_in(client, "dispatcher")
    assert act(client, cid, "close", public_note="已办结").status_code == 303

    sign_in(client, "citizen")
    page = client.get(f"/cases/{cid}", headers=HTML).text
    assert 'id="rate-form"' in page and "垃圾已清运" in page
    assert "已清运完毕" not in page  # internal notes stay internal
    r = client.post(
        f"/cases/{cid}/rate",
        data={"csrf": csrf_of(page), "score": "satisfied", "comment": "<b>快</b>"},
        headers=HTML,
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(f"/cases/{cid}", headers=HTML).text
    assert 'id="rating-shown"' in page and "&lt;b&gt;快&lt;/b&gt;" in page
    again = client.post(
        f"/cases/{cid}/rate",
        data={"csrf": csrf_of(page), "score": "dissatisfied"},
        headers=HTML,
        follow_redirects=False,
    )
    assert again.status_code == 409 and "已评价" in again.text
    assert db.get(Case, cid).state == "closed"


def test_public_tracking_shows_progress_but_no_personal_data(client, db) -> None:
    sign_in(client, "dispatcher")
    cid = case_id(
        submit(
            client,
            db,
            source="hotline_12345",
            reporter_name="王秘密",
            reporter_phone="13900001111",
            description="私人描述文字",
        )
    )
    tracking_no = db.get(Case, cid).tracking_no
    staff_view = client.get(f"/cases/{cid}", headers=HTML).text
    assert "王秘密" in staff_view and "13900001111" in staff_view
    client.post("/logout", data={"csrf": csrf_of(staff_view)})
    public = client.get(f"/track/{tracking_no}", headers=HTML)
    assert public.status_code == 200 and tracking_no in public.text
    for secret in ("王秘密", "13900001111", "私人描述文字"):
        assert secret not in public.text
    assert client.get("/track/JLP-1999-000001", headers=HTML).status_code == 404
    assert client.get(f"/track?no={tracking_no}", follow_redirects=False).status_code == 303


def test_me_too_on_a_nearby_report(client, db) -> None:
    sign_in(client, "dispatcher")
    cid = case_id(submit(client, db, source="hotline_12345"))
    tracking_no = db.get(Case, cid).tracking_no
    sign_in(client, "citizen")
    lon, lat = point_in(db, f"{YJP}-C1-G1")
    near = client.get(f"/cases/nearby?category=SJ0102&lon={lon}&lat={lat}", headers=HTML).text
    assert tracking_no in near and f'action="/cases/{cid}/me-too"' in near
    r = client.post(f"/cases/{cid}/me-too", data={"csrf": csrf_of(near)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?supported=1")
    assert db.get(Case, cid).supporters_count == 1
    again = client.post(f"/cases/{cid}/me-too", data={"csrf": csrf_of(near)}, headers=HTML)
    assert again.status_code == 409 and "我也遇到" in again.text
    assert "garbage" not in client.get("/cases/nearby?category=SJ0102&lon=x&lat=1", headers=HTML).text


def test_pages_are_role_and_scope_checked(client, db) -> None:
    assert client.get("/cases/queue", follow_redirects=False).status_code == 303  # sign in first
    sign_in(client, "citizen")
    for path in ("/cases/queue", "/cases/inbox", "/cases/overdue"):
        assert client.get(path, headers=HTML).status_code == 403, path
    sign_in(client, "dispatcher")
    other = case_id(submit(client, db, source="hotline_12345", grid=f"{HJP}-C1-G1"))
    sign_in(client, "citizen")
    assert client.get(f"/cases/{other}", headers=HTML).status_code == 404  # not theirs
    sign_in(client, "street")
    assert client.get("/cases/overdue", headers=HTML).status_code == 403
    queue = client.get(f"/cases/queue?street={HJP}", headers=HTML)
    assert queue.status_code == 200 and db.get(Case, other).tracking_no not in queue.text
    assert 'data-quick="register"' not in queue.text
    sign_in(client, "dispatcher")
    assert client.get("/cases/inbox", headers=HTML).status_code == 403
    bad = client.get("/cases/queue?state=nonsense", headers=HTML)
    assert bad.status_code == 422 and "filter-error" in bad.text
    bad_sort = client.get("/cases/queue?sort=evil", headers=HTML)
    assert bad_sort.status_code == 422


def test_queue_filters_pages_and_quick_actions(client, db) -> None:
    sign_in(client, "dispatcher")
    ids = [case_id(submit(client, db, source="hotline_12345", category="SJ0201")) for _ in range(2)]
    page = client.get("/cases/queue?category=SJ0201&source=hotline_12345&state=reported", headers=HTML)
    assert page.status_code == 200
    assert all(f'id="case-{i}"' in page.text for i in ids)
    assert 'id="queue-map"' in page.text and "疑似重复" in page.text  # the second is near the first
    r = client.post(
        f"/cases/{ids[0]}/act/register",
        data={"csrf": csrf_of(page.text), "version": "1", "next": "/cases/queue?state=registered"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/cases/queue?state=registered"
    assert 'data-quick="dispatch"' in client.get("/cases/queue?state=registered", headers=HTML).text
    merge_page = client.get(f"/cases/{ids[0]}", headers=HTML).text
    assert 'id="merge-form"' in merge_page
    child = re.search(rf'name="child" value="({ids[1]}:\d+)"', merge_page)
    assert child is not None  # the duplicate with the version the page showed
    stale = f"{ids[1]}:{int(child.group(1).split(':')[1]) - 1}"
    form = {"csrf": csrf_of(merge_page), "child": stale}
    r = client.post(f"/cases/{ids[0]}/merge", data=form, headers=HTML)
    assert r.status_code == 409 and db.get(Case, ids[1]).state != "merged"  # changed since: nothing merged
    r = client.post(
        f"/cases/{ids[0]}/merge",
        data={"csrf": csrf_of(merge_page), "child": child.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and db.get(Case, ids[1]).state == "merged"
    many = client.get("/cases/queue?state=all", headers=HTML).text
    assert 'rel="next"' in many  # the demo month fills more than one page


def test_supervisor_sees_overdue_cases_with_unit_lateness_and_escalation(client, db) -> None:
    sign_in(client, "dispatcher")
    cid = case_id(submit(client, db, source="hotline_12345"))
    step = db.scalars(select(CaseStep).where(CaseStep.case_id == cid)).one()
    base = clock.now()
    clock.set_clock(lambda: base + timedelta(days=3))
    try:
        from cityloop.cases import jobs

        jobs.deadlines_job(db)
        db.flush()
        assert step.escalated_at is not None
        sign_in(client, "supervisor")
        home = client.get("/", headers=HTML).text
        assert 'href="/cases/overdue"' in home and 'href="/cases/indicators"' in home
        tracking_no = db.get(Case, cid).tracking_no
        page = client.get(f"/cases/overdue?q={tracking_no}", headers=HTML)
        assert page.status_code == 200
        overdue = page.text.split('id="escalations"')[0]
        assert tracking_no in overdue and "已升级督办" in overdue
        assert tracking_no in page.text.split('id="escalations"')[1]
    finally:
        clock.set_clock(None)


def test_two_dispatchers_at_once_one_wins_the_other_sees_409(client, db) -> None:
    sign_in(client, "dispatcher")
    cid = case_id(submit(client, db, source="hotline_12345"))
    page = client.get(f"/cases/{cid}", headers=HTML).text  # both read version 1
    form = {"csrf": csrf_of(page), "version": re.search(r'name="version" value="(\d+)"', page).group(1)}
    first = client.post(f"/cases/{cid}/act/register", data=form, headers=HTML, follow_redirects=False)
    second = client.post(f"/cases/{cid}/act/void", data={**form, "reason": "重复"}, headers=HTML)
    assert first.status_code == 303 and second.status_code == 409
    assert "action-error" in second.text and db.get(Case, cid).state == "registered"


def test_inbox_colours_follow_the_deadline(client, db) -> None:
    sign_in(client, "dispatcher")
    cid = case_id(submit(client, db, source="hotline_12345"))
    assert act(client, cid, "register").status_code == 303
    assert act(client, cid, "dispatch", unit=YJP).status_code == 303
    step = db.scalars(select(CaseStep).where(CaseStep.case_id == cid, CaseStep.done_at.is_(None))).one()
    sign_in(client, "street")

    def colour() -> str:
        inbox = client.get("/cases/inbox", headers=HTML).text
        row = re.search(rf'id="case-{cid}"[^>]*data-colour="(\w+)"', inbox)
        return row.group(1) if row else "missing"

    assert colour() == "green"
    try:
        # Hours pass: past the session's idle timeout, so the street signs in again each time.
        clock.set_clock(lambda: step.remind_at + timedelta(minutes=1))
        sign_in(client, "street")
        assert colour() == "amber"
        clock.set_clock(lambda: step.due_at + timedelta(hours=2))
        sign_in(client, "street")
        assert colour() == "red"
        assert "超期 2小时" in client.get("/cases/inbox", headers=HTML).text
    finally:
        clock.set_clock(None)


def test_a_bad_evidence_file_refuses_the_feedback_and_saves_nothing(client, db) -> None:
    sign_in(client, "dispatcher")
    cid = case_id(submit(client, db, source="hotline_12345"))
    act(client, cid, "register")
    act(client, cid, "dispatch", unit=YJP)
    sign_in(client, "street")
    act(client, cid, "accept")
    r = act(client, cid, "feedback", note="完成", files=[("files", ("a.exe", b"MZ\x90\x00", "image/png"))])
    assert r.status_code == 422 and "不支持的附件类型" in r.text
    assert db.get(Case, cid).state == "handling"
    assert db.scalar(select(func.count()).select_from(Attachment).where(Attachment.case_id == cid)) == 0


def test_every_page_is_translated_in_both_languages(client, db) -> None:
    sign_in(client, "dispatcher")
    cid = case_id(submit(client, db, source="hotline_12345"))
    tracking_no = db.get(Case, cid).tracking_no
    pages = {
        "dispatcher": [
            "/cases/queue",
            "/cases/queue?state=all",
            f"/cases/{cid}",
            "/cases/overdue",
            "/cases/report",
        ],
        "street": ["/cases/inbox", "/cases/inbox?tab=closed"],
        "citizen": ["/cases/mine", "/track", f"/track/{tracking_no}", "/"],
    }
    for lang in ("en", "zh-CN"):
        for user, paths in pages.items():
            sign_in(client, user)
            client.get(f"/lang/{lang}?next=/")
            for path in paths:
                r = client.get(path, headers=HTML)
                assert r.status_code == 200, (lang, path)
                leftovers = re.findall(r"\b(?:cases|nav)\.[a-z_]+\.[a-z_.]+", r.text)
                assert not [k for k in leftovers if not k.startswith("cases.js")], (lang, path, leftovers[:5])


def test_return_redispatch_extension_and_parking_through_the_forms(client, db) -> None:
    sign_in(client, "dispatcher")
    cid = case_id(submit(client, db, source="hotline_12345"))
    assert act(client, cid, "register").status_code == 303
    assert act(client, cid, "dispatch", unit=YJP).status_code == 303
    sign_in(client, "street")
    assert act(client, cid, "return").status_code == 422  # a reason is required
    assert act(client, cid, "return", reason="属城管局职责").status_code == 303
    assert 'id="act-accept"' not in client.get(f"/cases/{cid}", headers=HTML).text
    sign_in(client, "dispatcher")
    assert 'data-quick="dispatch"' in client.get("/cases/queue?state=returned", headers=HTML).text
    assert act(client, cid, "dispatch", unit="dept-cgj").status_code == 303
    sign_in(client, "department")
    assert act(client, cid, "accept").status_code == 303
    assert act(client, cid, "request_extension", hours="abc", reason="等材料").status_code == 422
    assert act(client, cid, "request_extension", hours="24", reason="等材料").status_code == 303
    due = db.get(Case, cid).handle_due_at
    sign_in(client, "dispatcher")
    assert act(client, cid, "approve_extension").status_code == 303
    db.expire_all()
    assert db.get(Case, cid).handle_due_at - due == timedelta(hours=24)
    sign_in(client, "department")
    assert act(client, cid, "request_park", reason="需立项改造").status_code == 303
    sign_in(client, "dispatcher")
    assert act(client, cid, "deny_park", note="应先临时处置").status_code == 303
    db.expire_all()
    case = db.get(Case, cid)
    assert case.state == "handling" and case.return_count == 1 and case.extension_count == 1


def test_a_citizens_map_draws_the_public_area_layer(client, db) -> None:
    """Citizens may not read the unit list; their home map draws the public district/street layer."""
    sign_in(client, "citizen")
    for path in ("/", "/map"):
        page = client.get(path)
        assert page.status_code == 200
        assert 'data-units-url="/cases/map/areas"' in page.text
    assert client.get("/api/v1/units").status_code == 403
    layer = client.get("/cases/map/areas").json()
    kinds = {f["properties"]["kind"] for f in layer["features"]}
    assert "district" in kinds and "street" in kinds and "grid" not in kinds
    assert all(f["properties"]["geometry_schematic"] for f in layer["features"])  # demo shapes say so


def test_a_streets_inbox_holds_cases_dispatched_to_its_communities(client, db) -> None:
    sign_in(client, "dispatcher")
    cid = case_id(submit(client, db, source="hotline_12345"))
    assert act(client, cid, "register").status_code == 303
    assert act(client, cid, "dispatch", unit=f"{YJP}-C1").status_code == 303  # a community of the street
    sign_in(client, "street")
    assert f'id="case-{cid}"' in client.get("/cases/inbox", headers=HTML).text
    sign_in(client, "street2")
    assert f'id="case-{cid}"' not in client.get("/cases/inbox", headers=HTML).text
