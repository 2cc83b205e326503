"""The web console in Debian's headless Chromium (Playwright) against the app served by uvicorn on
the real stack: roles and navigation, acknowledging, keyboard navigation, search counts against the
API's, patrol sign-off, language, labels, CSRF; and screenshots of each main page."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from elasticsearch import Elasticsearch

from api.console.web import NAV
from api.permissions import Permission, Role, allowed
from core.names import AUDIT_INDEX
from playbooks.engine import Engine
from playbooks.runtime import build_engine
from stack.local import LocalStack
from tests.integration.console_support import PASSWORD, Console, console, console_settings, patrol_day

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"

if not CHROMIUM.exists():  # scripts/setup.sh installs it; CI must not pass without running these
    if os.environ.get("CI"):
        raise RuntimeError("/usr/bin/chromium is missing: run scripts/setup.sh (apt-get install chromium)")
    pytest.skip("no /usr/bin/chromium (scripts/setup.sh installs it)", allow_module_level=True)

from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright  # noqa: E402 - only with a browser


@pytest.fixture(scope="module")
def app(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    settings = console_settings(stack.config.es_url, stack.config.kafka_bootstrap, tmp_path_factory.mktemp("console"))
    with console(settings) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def es(app: Console) -> Iterator[Elasticsearch]:
    client = Elasticsearch(app.settings.es_url, request_timeout=30)
    yield client
    client.close()


def open_page(browser: Browser, width: int = 1280, height: int = 800, lang: str = "zh-CN") -> Page:
    context = browser.new_context(viewport={"width": width, "height": height}, locale=lang)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def login_password(page: Page, app: Console, role: Role) -> None:
    page.goto(f"{app.url}/console/login")
    page.fill("#username", app.users[role])
    page.fill("#password", PASSWORD)
    page.click("#login-password")
    page.wait_for_url(re.compile(r"/console/alerts"))


def login_token(page: Page, app: Console, role: Role) -> None:
    page.goto(f"{app.url}/console/login")
    page.fill("#token", app.tokens[role])
    page.click("#login-token")
    page.wait_for_url(re.compile(r"/console/alerts"))


def api(app: Console, role: Role, path: str, **params: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {app.tokens[role]}"}
    return httpx.get(f"{app.url}{path}", params=params, headers=headers, timeout=60)  # type: ignore[arg-type]


# --- login and roles ----------------------------------------------------------------------------

FORBIDDEN = {Role.ADMIN: "/console/patrol/2026-01-05/signoff", Role.OFFICER: "/console/admin/access",
             Role.RESPONDER: "/console/patrol", Role.AUDITOR: "/console/search"}  # fmt: skip


@pytest.mark.parametrize("role", list(Role))
def test_each_role_sees_only_what_it_may(app: Console, browser: Browser, role: Role) -> None:
    page = open_page(browser)
    # Two roles log in with a password, two with an API token: both paths open the same session.
    (login_password if role in (Role.ADMIN, Role.OFFICER) else login_token)(page, app, role)
    links = page.locator("nav#nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert links == [path for path, _, permission in NAV if allowed(role, permission)]
    expect(page.locator(".who")).to_contain_text(app.users[role] if role in (Role.ADMIN, Role.OFFICER) else "console-")
    if role is Role.ADMIN:  # the admin's forbidden thing is signing (officers only): a POST
        reply = page.request.post(f"{app.url}{FORBIDDEN[role]}", form={"findings": "x"},
                                  headers={"X-CSRF-Token": csrf(page)})  # fmt: skip
        assert reply.status == 403
    else:
        reply = page.goto(f"{app.url}{FORBIDDEN[role]}")
        assert reply is not None and reply.status == 403
        expect(page.locator("h1")).to_contain_text("403")
        expect(page.locator(".notice.error")).to_contain_text(f"has role {role.value}")
    # Auditors read alerts but not the logs behind them, in the console as in the API.
    alert = app.alerts[0]
    page.goto(f"{app.url}/console/alerts/{alert.id}")
    events = page.locator("#h-events ~ details")
    if allowed(role, Permission.SEARCH_LOGS):
        assert events.count() == len(alert.event_ids)
    else:
        assert events.count() == 0
        expect(page.locator("section", has=page.locator("#h-events"))).to_contain_text("不能查阅日志")
    page.context.close()


def csrf(page: Page) -> str:
    headers = page.locator("body").get_attribute("hx-headers") or "{}"
    token = json.loads(headers).get("X-CSRF-Token")
    assert token
    return str(token)


def test_wrong_password_and_logout(app: Console, browser: Browser) -> None:
    page = open_page(browser)
    page.goto(f"{app.url}/console/login")
    page.fill("#username", app.users[Role.OFFICER])
    page.fill("#password", "not-the-password")
    page.click("#login-password")
    expect(page.locator(".notice.error")).to_be_visible()
    assert page.goto(f"{app.url}/console/alerts") is not None
    assert "/console/login" in page.url  # no session: back to the login page
    login_password(page, app, Role.OFFICER)
    page.click("text=退出")
    page.wait_for_url(re.compile(r"/console/login"))
    page.goto(f"{app.url}/console/alerts")
    assert "/console/login" in page.url
    page.context.close()


def test_a_session_change_needs_the_csrf_header(app: Console, browser: Browser) -> None:
    page = open_page(browser)
    login_password(page, app, Role.OFFICER)
    target = app.alerts[-1].id
    without = page.request.post(f"{app.url}/alerts/ack", data={"ids": [target]})
    assert without.status == 403 and "X-CSRF-Token" in without.json()["detail"]
    # The JSON API itself accepts the console session, with the header.
    with_header = page.request.post(f"{app.url}/alerts/ack", data={"ids": [target]},
                                    headers={"X-CSRF-Token": csrf(page)})  # fmt: skip
    assert with_header.status == 200 and with_header.json()["acknowledged"] == 1
    page.context.close()


# --- the alert queue ----------------------------------------------------------------------------


def test_acknowledge_selected_alerts(app: Console, browser: Browser) -> None:
    page = open_page(browser)
    login_password(page, app, Role.OFFICER)
    page.goto(f"{app.url}/console/alerts?status=new&entity=user:bob")
    rows = page.locator("#queue-table tbody tr")
    before = rows.count()
    assert before >= 2
    chosen = [rows.nth(i).get_attribute("data-id") for i in range(2)]
    for alert_id in chosen:
        page.check(f"#sel-{alert_id}")
    page.click("#ack-selected")
    expect(page.locator(".notice.ok")).to_contain_text("已确认 2 条")
    # The queue was filtered to new alerts: the two are gone from it, and stored as acknowledged.
    expect(page.locator("#queue-table tbody tr")).to_have_count(before - 2)
    for alert_id in chosen:
        stored = api(app, Role.AUDITOR, f"/alerts/{alert_id}").json()
        assert stored["status"] == "acknowledged"
        assert stored["history"][-1]["by"] == app.users[Role.OFFICER]
    page.context.close()


def test_keyboard_navigation_of_the_queue(app: Console, browser: Browser) -> None:
    page = open_page(browser)
    login_token(page, app, Role.RESPONDER)
    page.goto(f"{app.url}/console/alerts")
    rows = page.locator("#queue-table tbody tr")
    # The keys are bound once the queue's script has wired the table (htmx may swap it in after load).
    expect(page.locator("#queue-table[data-keys]")).to_have_count(1)
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bfocused\b"))
    expect(rows.nth(1)).to_be_focused()
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bfocused\b"))
    page.keyboard.press("x")
    expect(rows.nth(0).locator("input[type=checkbox]")).to_be_checked()
    # The focus is visible: the focused row is outlined.
    assert rows.nth(0).evaluate("row => getComputedStyle(row).outlineStyle") != "none"
    target = rows.nth(0).get_attribute("data-href")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{app.url}{target}")
    page.context.close()


def test_triage_on_the_alert_page(app: Console, browser: Browser) -> None:
    page = open_page(browser)
    login_token(page, app, Role.RESPONDER)
    alert = app.alerts[5]
    page.goto(f"{app.url}/console/alerts/{alert.id}")
    page.select_option("#t-status", "acknowledged")
    page.fill("#t-assignee", "dave")
    page.fill("#t-comment", "looking into it")
    page.click("#triage-save")
    expect(page.locator("#alert-status")).to_have_attribute("data-status", "acknowledged")
    expect(page.locator(".history")).to_contain_text("looking into it")
    # The status choice offers only the transitions the API allows from the current status.
    offered = page.locator("#t-status option").evaluate_all("options => options.map(o => o.value).filter(Boolean)")
    assert offered == ["investigating", "resolved", "false_positive"]
    page.select_option("#t-status", "investigating")
    page.click("#triage-save")
    expect(page.locator("#alert-status")).to_have_attribute("data-status", "investigating")
    stored = api(app, Role.AUDITOR, f"/alerts/{alert.id}").json()
    assert stored["status"] == "investigating" and stored["assignee"] == "dave"
    page.context.close()


# --- search ---------------------------------------------------------------------------------------


def test_search_counts_what_the_api_counts_and_is_audited(app: Console, browser: Browser, es: Elasticsearch) -> None:
    page = open_page(browser)
    login_token(page, app, Role.OFFICER)
    page.goto(f"{app.url}/console/search")
    page.fill("#s-q", '"Failed password"')
    page.click("#search-run")
    page.wait_for_url(re.compile(r"q="))
    shown = int(page.locator("#hit-count").get_attribute("data-count") or -1)
    expected = api(app, Role.OFFICER, "/events", q='"Failed password"', size=0).json()["count"]
    assert shown == expected > 48  # the patrol day's 48 lines and the real OpenSSH ones
    expect(page.locator("#histogram")).to_be_visible()
    # A category facet narrows the search as the API's `category=` does.
    page.locator(".facets a", has_text="user").first.click()
    page.wait_for_url(re.compile(r"category=user"))
    narrowed = int(page.locator("#hit-count").get_attribute("data-count") or -1)
    assert narrowed == api(app, Role.OFFICER, "/events", q='"Failed password"', category="user", size=0).json()["count"]
    page.locator("#results details summary").first.click()
    expect(page.locator("#results details pre").first).to_contain_text('"@timestamp"')
    es.indices.refresh(index=AUDIT_INDEX)
    query = {"bool": {"filter": [{"term": {"endpoint": "/console/search"}}, {"term": {"action": "events.search"}},
                                 {"term": {"actor.name": "console-officer"}}]}}  # fmt: skip
    audited = es.search(index=AUDIT_INDEX, query=query, size=10)["hits"]["hits"]
    assert {hit["_source"]["hits"] for hit in audited} >= {expected, narrowed}
    page.context.close()


# --- patrol record ------------------------------------------------------------------------------


def test_sign_the_patrol_record(app: Console, browser: Browser) -> None:
    day = patrol_day(app.settings, datetime.now(UTC))
    page = open_page(browser)
    login_password(page, app, Role.OFFICER)
    page.goto(f"{app.url}/console/patrol")
    expect(page.locator("h1")).to_contain_text(str(day))
    expect(page.locator(f'[data-unsigned="{day}"]')).to_be_visible()  # unsigned: highlighted in the list
    page.fill("#p-findings", "48 failed SSH logins on web01-web02, from the internal range")
    page.fill("#p-actions", "Asked the web team to check the monitoring account")
    page.click("#sign")
    expect(page.locator("#signed-ok")).to_be_visible()
    expect(page.locator("#signoff-state")).to_contain_text(app.users[Role.OFFICER])
    expect(page.locator(f'[data-unsigned="{day}"]')).to_have_count(0)
    record = api(app, Role.AUDITOR, f"/reports/patrol/{day}").json()
    assert record["signed_by"] == app.users[Role.OFFICER]
    assert record["findings"].startswith("48 failed SSH logins")
    page.context.close()


# --- integrity on the health page -----------------------------------------------------------------


VERIFYING = 60_000  # ms: the verification re-reads the day's index, on a shared machine


def test_verify_a_day_on_the_health_page(app: Console, browser: Browser, es: Elasticsearch) -> None:
    day = patrol_day(app.settings, datetime.now(UTC))  # its sshd lines were ledgered as the indexer does
    # Only the console's own rows (user): after 16:00 UTC the patrol day is today, on which other tests of
    # the session wrote system documents straight into Elasticsearch, unledgered (rightly shown as altered).
    ours = f'#integrity-table tr[data-day="{day}"]'
    officer = open_page(browser)
    login_password(officer, app, Role.OFFICER)
    officer.goto(f"{app.url}/console/health")
    expect(officer.locator(f'{ours}[data-index^="logs-user-"]')).to_contain_text("已记账，尚未校验")
    expect(officer.locator("#integrity button")).to_have_count(0)  # officers read, only admins and auditors verify
    denied = officer.request.post(f"{app.url}/console/health/verify", form={"day": str(day)},
                                  headers={"X-CSRF-Token": csrf(officer)})  # fmt: skip
    assert denied.status == 403
    auditor = open_page(browser)
    login_token(auditor, app, Role.AUDITOR)
    auditor.goto(f"{app.url}/console/health")
    auditor.click(f'.verify-now[data-day="{day}"]')
    expect(auditor.locator("#integrity-verified")).to_contain_text("user 完整", timeout=VERIFYING)
    row = auditor.locator(f'{ours}[data-category="user"]')
    expect(row).to_have_attribute("data-clean", "true")
    category = row.get_attribute("data-category")
    # One stored log line edited behind the pipeline's back: the next verification names it.
    first = es.search(index="logs-*", query={"ids": {"values": [app.event_ids[0]]}})["hits"]["hits"][0]
    es.update(index=first["_index"], id=first["_id"], doc={"message": first["_source"]["message"] + " (edited)"},
              refresh=True)  # fmt: skip
    auditor.fill("#v-day", str(day))
    auditor.select_option("#v-category", category)
    auditor.click("#verify-day")
    expect(row).to_have_attribute("data-clean", "false", timeout=VERIFYING)
    expect(auditor.locator("#integrity-verified")).to_contain_text("已被篡改")
    altered = row.locator("td").nth(2)
    expect(altered).to_contain_text("已被篡改")
    assert altered.evaluate("el => getComputedStyle(el).color") == "rgb(198, 40, 40)"  # --high
    expect(row.locator("td").nth(4)).to_have_text("1")  # modified
    api_view = api(app, Role.AUDITOR, "/integrity/verify", day=str(day), category=category).json()
    assert not api_view["clean"] and [d["id"] for d in api_view["data"][0]["modified"]] == [first["_id"]]
    officer.reload()
    expect(officer.locator(f'{ours}[data-category="user"][data-clean="false"]')).to_have_count(1)
    officer.context.close()
    auditor.context.close()


# --- language and accessibility ---------------------------------------------------------------------


def test_switch_language_is_remembered(app: Console, browser: Browser) -> None:
    page = open_page(browser)
    login_token(page, app, Role.AUDITOR)
    expect(page.locator("h1")).to_have_text("告警")
    page.click('a[hreflang="en"]')
    expect(page.locator("h1")).to_have_text("Alerts")
    page.goto(f"{app.url}/console/patrol")
    expect(page.locator("nav#nav")).to_contain_text("Patrol record")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.click('a[hreflang="zh-CN"]')
    expect(page.locator("nav#nav")).to_contain_text("巡查记录")
    page.context.close()


LABEL_CHECK = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length))
  .filter(el => !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML.slice(0, 120))"""

MAIN_PAGES = ["/console/alerts", "/console/search?q=sshd", "/console/patrol", "/console/health", "/console/audit",
              "/console/admin/rules", "/console/admin/entities", "/console/admin/access", "/console/incidents",
              "/console/admin/playbooks"]  # fmt: skip


def test_every_input_has_a_label(app: Console, browser: Browser) -> None:
    page = open_page(browser)
    page.goto(f"{app.url}/console/login")
    assert page.evaluate(LABEL_CHECK) == []
    login_token(page, app, Role.ADMIN)
    for path in [*MAIN_PAGES, f"/console/alerts/{app.alerts[0].id}"]:
        page.goto(f"{app.url}{path}")
        assert page.evaluate(LABEL_CHECK) == [], path
    page.context.close()


# --- incidents ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(app: Console, es: Elasticsearch) -> Engine:
    """The playbooks worker's part (notify, enrich, report steps), run by hand between the clicks."""
    return build_engine(app.settings, es=es, alert_sink=lambda _alert: None)


def step(page: Page, step_id: str) -> Locator:
    return page.locator(f'#steps li[data-step="{step_id}"]')


def test_an_incident_worked_through_its_playbook_checklist(app: Console, browser: Browser, engine: Engine) -> None:
    responder, officer = open_page(browser), open_page(browser)
    login_token(responder, app, Role.RESPONDER)
    login_password(officer, app, Role.OFFICER)
    responder.goto(f"{app.url}/console/incidents")
    responder.fill("#n-title", "Phone report: zed locked out")
    responder.select_option("#n-severity", "critical")
    responder.fill("#n-entity", "user:zed")
    responder.select_option("#n-playbook", "brute-force")
    responder.click("#open-incident")
    responder.wait_for_url(re.compile(r"/console/incidents/[^/]+$"))
    incident_url = responder.url
    expect(step(responder, "page-on-duty")).to_have_attribute("data-status", "waiting")
    expect(responder.locator(".countdown").first).to_contain_text("剩余")  # deadlines count down
    expect(responder.locator("#acknowledge")).to_have_count(0)  # responders do not acknowledge the duty page

    officer.goto(incident_url)
    officer.click("#acknowledge")
    expect(officer.locator("#incident-contacted")).to_contain_text(app.users[Role.OFFICER])  # the 3-minute clock stops
    expect(officer.locator("#acknowledge")).to_have_count(0)
    incident_id = incident_url.rsplit("/", 1)[1]
    engine.process(incident_id)

    responder.reload()
    triage = step(responder, "triage")
    expect(triage).to_have_attribute("data-status", "ready")
    triage.locator('input[name="ev_scope"]').fill("zed's account on web01")
    triage.locator('input[name="ev_assessment"]').fill("true positive")
    triage.locator("textarea").fill("seen in the logs")
    triage.locator("button[type=submit]").click()
    expect(step(responder, "triage")).to_have_attribute("data-status", "done")
    expect(step(responder, "triage")).to_contain_text("true positive")
    engine.process(incident_id)

    officer.reload()
    contain = step(officer, "contain")
    expect(contain).to_have_attribute("data-status", "awaiting_approval")
    contain.locator('input[name="comment"]').fill("go ahead")
    contain.locator('button[value="approve"]').click()
    expect(officer.locator("#incident-saved")).to_be_visible()
    expect(officer.locator("#timeline")).to_contain_text("containment_approved")
    stored = api(app, Role.AUDITOR, f"/incidents/{incident_id}").json()
    evidence = {s["step_id"]: s["evidence"] for s in stored["steps"]}
    assert evidence["triage"] == {"scope": "zed's account on web01", "assessment": "true positive"}
    assert stored["contacted_by"] == app.users[Role.OFFICER]
    # The report export is the API's, reached with the console session.
    report = responder.request.get(f"{app.url}/incidents/{incident_id}/report?format=html&lang=en")
    assert report.status == 200 and incident_id in report.text()
    # A serious incident detected 25 hours ago has missed its 24-hour report: overdue, in red.
    late = {"title": "Ransomware on file server fs01", "severity": "critical", "serious": True, "entity": "host:fs01",
            "playbook": "malware", "detected_at": (datetime.now(UTC) - timedelta(hours=25)).isoformat()}  # fmt: skip
    opened = httpx.post(f"{app.url}/incidents", json=late, timeout=60,
                        headers={"Authorization": f"Bearer {app.tokens[Role.RESPONDER]}"})  # fmt: skip
    assert opened.status_code == 201, opened.text
    responder.goto(f"{app.url}/console/incidents")
    expect(responder.locator("#incidents")).to_contain_text("Phone report: zed locked out")
    row = responder.locator("#incidents tbody tr", has_text="fs01")
    overdue = row.locator(".countdown.overdue")
    expect(overdue.first).to_contain_text("已超时")
    assert overdue.first.evaluate("el => getComputedStyle(el).color") == "rgb(198, 40, 40)"  # --high
    responder.context.close()
    officer.context.close()


def test_open_an_incident_from_an_alert(app: Console, browser: Browser) -> None:
    alert = app.alerts[3]  # suggests the unauthorized-access playbook
    assert alert.playbook == "unauthorized-access"
    headers = {"Authorization": f"Bearer {app.tokens[Role.RESPONDER]}"}
    body = {"title": "From alerts", "severity": "high", "alert_ids": [alert.id, "no-such-alert"]}
    before = api(app, Role.AUDITOR, "/incidents", size=500).json()["count"]
    refused = httpx.post(f"{app.url}/incidents", json=body, headers=headers, timeout=60)
    assert refused.status_code == 422 and "no-such-alert" in refused.json()["detail"]
    assert api(app, Role.AUDITOR, "/incidents", size=500).json()["count"] == before  # nothing was stored
    by_api = httpx.post(f"{app.url}/incidents", json={**body, "alert_ids": [app.alerts[1].id]}, headers=headers,
                        timeout=60).json()  # fmt: skip
    assert by_api["alert_ids"] == [app.alerts[1].id] and by_api["alerts"][0]["id"] == app.alerts[1].id

    auditor = open_page(browser)
    login_token(auditor, app, Role.AUDITOR)
    auditor.goto(f"{app.url}/console/alerts/{alert.id}")
    expect(auditor.locator("#open-incident")).to_have_count(0)  # auditors read incidents, they do not open them
    auditor.context.close()
    page = open_page(browser)
    login_token(page, app, Role.RESPONDER)
    page.goto(f"{app.url}/console/alerts/{alert.id}")
    expect(page.locator("#n-playbook")).to_have_value("unauthorized-access")  # the alert's suggestion
    expect(page.locator("#n-severity")).to_have_value(alert.severity.value)
    page.fill("#n-title", "Remote logon by alice, reported by the alert")
    page.click("#open-incident")
    page.wait_for_url(re.compile(r"/console/incidents/[^/]+$"))
    expect(page.locator("#incident")).to_contain_text(alert.rule.title)  # the linked alert, with its link
    expect(page.locator(f'#incident a[href="/console/alerts/{alert.id}"]')).to_be_visible()
    incident_id = page.url.rsplit("/", 1)[1]
    stored = api(app, Role.AUDITOR, f"/incidents/{incident_id}").json()
    assert stored["alert_ids"] == [alert.id] and stored["playbook"] == "unauthorized-access"
    assert stored["entity"] == {"kind": alert.entity.kind, "value": alert.entity.value}
    # Back on the alert: the incident it is now in, with its playbook and status, linked.
    page.goto(f"{app.url}/console/alerts/{alert.id}")
    row = page.locator("#alert-incidents tr", has=page.locator(f'a[href="/console/incidents/{incident_id}"]'))
    expect(row).to_contain_text("unauthorized-access")
    listed = {i["id"]: i for i in api(app, Role.AUDITOR, f"/alerts/{alert.id}").json()["incidents"]}
    expect(row).to_contain_text(listed[incident_id]["title"])
    row.locator("a").click()
    page.wait_for_url(re.compile(f"/console/incidents/{incident_id}$"))
    page.goto(f"{app.url}/console/alerts/{app.alerts[2].id}")  # in no incident
    expect(page.locator("#alert-incidents-none")).to_be_visible()
    page.context.close()


def test_start_escalate_reassign_and_cancel_an_incident(app: Console, browser: Browser) -> None:
    headers = {"Authorization": f"Bearer {app.tokens[Role.RESPONDER]}"}
    body = {"title": "Walk-in report: yan's laptop stolen", "severity": "high", "entity": "user:yan"}
    opened = httpx.post(f"{app.url}/incidents", json=body, headers=headers, timeout=60).json()
    url = f"{app.url}/console/incidents/{opened['id']}"
    auditor = open_page(browser)
    login_token(auditor, app, Role.AUDITOR)
    auditor.goto(url)
    expect(auditor.locator("#h-actions")).to_have_count(0)  # auditors read only
    auditor.context.close()

    responder = open_page(browser)
    login_token(responder, app, Role.RESPONDER)
    responder.goto(url)
    responder.select_option("#a-playbook", "brute-force")
    responder.click("#start-playbook")
    expect(step(responder, "page-on-duty")).to_have_attribute("data-status", "waiting")
    expect(responder.locator("#start-playbook")).to_have_count(0)  # one playbook per incident
    expect(responder.locator("#escalate")).to_have_count(0)  # escalating and cancelling are the officers'
    expect(responder.locator("#cancel-incident")).to_have_count(0)
    responder.fill("#a-assignee", "dave")
    responder.click("#assign")
    expect(responder.locator("#incident-saved")).to_be_visible()
    expect(responder.locator("#timeline")).to_contain_text("reassigned")
    responder.context.close()

    officer = open_page(browser)
    login_password(officer, app, Role.OFFICER)
    officer.goto(url)
    officer.fill("#a-escalate", "nobody answers the phone")
    officer.click("#escalate")
    expect(officer.locator("#timeline")).to_contain_text("escalation_requested")
    officer.once("dialog", lambda dialog: dialog.accept())  # "Cancel this incident?"
    officer.fill("#a-cancel", "duplicate of the laptop ticket")
    officer.click("#cancel-incident")
    expect(officer.locator("#incident-status")).to_have_attribute("data-status", "cancelled")
    expect(officer.locator("#h-actions")).to_have_count(0)  # nothing more to do on a cancelled incident
    officer.context.close()
    stored = api(app, Role.AUDITOR, f"/incidents/{opened['id']}").json()
    assert stored["playbook"] == "brute-force" and stored["assignee"] == "dave" and stored["status"] == "cancelled"
    actions = [(e["actor"], e["action"]) for e in stored["timeline"]]
    assert ("console-responder", "reassigned") in actions
    assert (app.users[Role.OFFICER], "escalation_requested") in actions
    assert (app.users[Role.OFFICER], "cancelled") in actions


def test_an_admin_edits_the_duty_roster(app: Console, browser: Browser) -> None:
    assert app.settings.roster_file is not None
    original = app.settings.roster_file.read_bytes()
    responder = open_page(browser)
    login_token(responder, app, Role.RESPONDER)
    responder.goto(f"{app.url}/console/admin/playbooks")
    expect(responder.locator("#on-duty")).to_have_text("alice, bob")
    expect(responder.locator("#roster-text")).to_have_count(0)  # responders read the roster, admins edit it
    page = open_page(browser)
    login_password(page, app, Role.ADMIN)
    try:
        page.goto(f"{app.url}/console/admin/playbooks")
        expect(page.locator("#roster-text")).to_have_value(original.decode())
        roster = yaml.safe_load(original)
        roster["people"]["erin"] = {"name": "Erin 新值班", "email": "erin@test.local"}
        roster["shifts"][0]["people"] = ["erin", "zed"]
        page.fill("#roster-text", yaml.safe_dump(roster, allow_unicode=True))
        page.click("#roster-save")
        expect(page.locator("#roster-error")).to_contain_text("not in people: zed")  # inline, the text kept
        expect(page.locator("#roster-text")).to_have_value(re.compile("zed"))
        assert app.settings.roster_file.read_bytes() == original
        roster["shifts"][0]["people"] = ["erin", "alice"]
        page.fill("#roster-text", "# erin takes the desk\n" + yaml.safe_dump(roster, allow_unicode=True))
        page.click("#roster-save")
        expect(page.locator("#roster-saved")).to_be_visible()
        expect(page.locator("#on-duty")).to_have_text("erin, alice")
        expect(page.locator("#roster-text")).to_have_value(re.compile("^# erin takes the desk"))
        assert api(app, Role.AUDITOR, "/duty/roster").json()["on_duty"] == ["erin", "alice"]
        responder.reload()  # another session sees it at once; its stale form would be refused (409)
        expect(responder.locator("#on-duty")).to_have_text("erin, alice")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / "roster-edit.png", full_page=True)
    finally:
        app.settings.roster_file.write_bytes(original)  # the incident tests page alice first
        page.context.close()
        responder.context.close()


# --- screenshots ----------------------------------------------------------------------------------

SHOTS = {"alerts": "/console/alerts", "search": "/console/search?q=sshd", "patrol": "/console/patrol",
         "health": "/console/health", "rules": "/console/admin/rules", "access": "/console/admin/access",
         "audit": "/console/audit", "incidents": "/console/incidents",
         "playbooks": "/console/admin/playbooks"}  # fmt: skip


def test_screenshots(app: Console, browser: Browser) -> None:
    """Each main page at 1280×800 and the queue on a 390×844 phone, as PNG under test-artifacts/console."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = open_page(browser)
    page.goto(f"{app.url}/console/login")
    page.screenshot(path=ARTIFACTS / "login.png")
    login_token(page, app, Role.ADMIN)
    day = patrol_day(app.settings, datetime.now(UTC))
    day_range = f"&from={day} 00:00&to={day + timedelta(days=1)} 00:00"  # the patrol day: a 15-minute histogram
    incidents = api(app, Role.AUDITOR, "/incidents").json()["data"]
    worked = next(i["id"] for i in incidents if i["title"].startswith("Phone"))  # the incident test's, run before
    shots = {**SHOTS, "search": SHOTS["search"] + day_range, "alert": f"/console/alerts/{app.alerts[0].id}",
             "incident": f"/console/incidents/{worked}"}  # fmt: skip
    for name, path in shots.items():
        page.goto(f"{app.url}{path}")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=name == "incident")
    page.click('a[hreflang="en"]')
    page.goto(f"{app.url}/console/alerts")
    page.screenshot(path=ARTIFACTS / "alerts-en.png")
    page.context.close()
    phone = open_page(browser, 390, 844)
    login_token(phone, app, Role.OFFICER)
    phone.wait_for_load_state("networkidle")
    phone.screenshot(path=ARTIFACTS / "alerts-narrow.png")
    phone.click(".menu-toggle")
    expect(phone.locator("nav#nav")).to_be_visible()
    phone.screenshot(path=ARTIFACTS / "menu-narrow.png")
    # The queue's table became one card per alert: nothing wider than the screen.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.context.close()
    written = sorted(p.name for p in ARTIFACTS.glob("*.png"))
    assert len(written) >= len(SHOTS) + 4 and all((ARTIFACTS / name).stat().st_size > 10_000 for name in written)
