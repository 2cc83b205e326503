"""The incident report and the authority report: the seeded facts in HTML (zh-CN and en), the deadline
verdicts, drill marking, and PDFs that render with Chinese text and a chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
from PIL import ImageStat

from core.models.alert import Alert, AlertOrigin, DetectorKind, EntityRef, RuleRef, Severity, Summary
from core.models.incident import Incident
from reports import render
from reports.incident_report import Reporter, category, checks, incident_report_html

DETECTED = datetime(2026, 11, 10, 1, 58, tzinfo=UTC)  # 09:58 Asia/Shanghai
OPENED = DETECTED + timedelta(minutes=1)
REPORTER = Reporter(organisation="示例市信息中心", contact="王敏", phone="010-5555 0100", email="soc@example.gov")
PNG_OUT = Path("/tmp/vigil-incident-report-page1.png")


def at(minutes: float) -> datetime:
    return DETECTED + timedelta(minutes=minutes)


def alert(rule_id: str, title: str, minutes: float, tags: list[str], zh: str, en: str) -> Alert:
    return Alert.model_validate({
        "id": f"al-{rule_id}", "@timestamp": at(minutes), "origin": AlertOrigin.STREAM,
        "rule": RuleRef(id=rule_id, title=title, kind=DetectorKind.SIGMA, version="2024-03-01"),
        "severity": Severity.CRITICAL, "tags": tags, "entity": EntityRef(kind="host", value="ws01"),
        "dedup_key": f"{rule_id}|host:ws01", "event_count": 1200, "first_seen": at(minutes - 3),
        "last_seen": at(minutes), "summary": Summary.model_validate({"en": en, "zh-CN": zh}),
    })  # fmt: skip


ALERTS = [
    alert("57b649ef-ff42-4fb0-8bf6-62da243a1708", "Ransomware mass file rename", 0, ["attack.impact", "attack.t1486"],
          "ws01 上 1200 个文件被改名为 .locked", "1200 files renamed to .locked on ws01"),
    alert("vigil-policy-smb-spread", "SMB lateral spread", 4, ["attack.lateral_movement", "attack.t1021.002"],
          "ws01 向 14 台主机写入可执行文件", "ws01 wrote executables to 14 hosts"),
]  # fmt: skip


def incident(**changes: Any) -> Incident:
    data: dict[str, Any] = {
        "id": "inc-7f3a9c", "title": "勒索软件爆发：ws01", "severity": "critical", "status": "closed", "serious": True,
        "playbook": "malware", "entity": {"kind": "host", "value": "ws01"}, "alert_ids": [a.id for a in ALERTS],
        "tags": ["attack.t1486"], "first_seen": at(-3), "last_seen": at(4), "detected_at": DETECTED,
        "opened_at": OPENED, "opened_by": "engine", "assignee": "li.na", "contacted_at": at(3),
        "contacted_by": "zhang.wei", "reported_at": at(20 * 60), "closed_at": at(30 * 60), "updated_at": at(30 * 60),
        "steps": [
            {"step_id": "page-on-duty", "kind": "escalate", "title": "联系值班人员", "status": "done",
             "started_at": OPENED, "completed_at": at(3), "completed_by": "zhang.wei",
             "deliveries": [{"key": "inc-7f3a9c:page-on-duty:1", "channel": "duty-mail", "ok": True,
                             "detail": "accepted by smtp for 1 recipient(s)", "at": OPENED}]},
            {"step_id": "isolate-host", "kind": "contain", "title": "隔离主机 ws01", "status": "done",
             "started_at": at(6), "completed_at": at(15), "completed_by": "engine",
             "approvals": [{"by": "chen.jie", "role": "officer", "decision": "approve", "at": at(12),
                            "comment": "同意隔离"}], "detail": "EDR isolation webhook answered 200"},
            {"step_id": "preserve-logs", "kind": "preserve", "title": "保全日志", "status": "done",
             "started_at": at(15), "completed_at": at(16), "completed_by": "engine",
             "attachments": [{"name": "hold", "kind": "hold", "at": at(16), "ref": "hold-inc-7f3a9c",
                              "summary": "host:ws01 logs 2026-11-09 to 2026-11-11 held"}]},
            {"step_id": "eradicate", "kind": "manual", "title": "清除恶意程序并恢复", "status": "done",
             "started_at": at(16), "completed_at": at(240), "completed_by": "li.na",
             "evidence": {"reimaged": "ws01 重装系统", "backup": "restored from 2026-11-09 22:00"},
             "comment": "已从备份恢复"},
        ],
        "deadlines": [{"name": "authority-report", "due": at(24 * 60), "met_at": at(20 * 60)}],
        "contacts": [{"person": "zhang.wei", "level": 0, "at": OPENED, "contacts": ["duty-mail:zhang.wei@corp"],
                      "acknowledged_at": at(3)}],
        "timeline": [
            {"at": OPENED, "actor": "engine", "action": "opened", "detail": "by rule 57b649ef"},
            {"at": at(12), "actor": "chen.jie", "action": "approved", "step_id": "isolate-host", "detail": "同意隔离"},
            {"at": at(240), "actor": "li.na", "action": "step_done", "step_id": "eradicate",
             "evidence": {"reimaged": "ws01 重装系统"}},
        ],
        "review": {"cause": "员工打开钓鱼邮件附件 invoice.js", "impact": "ws01 停用 4 小时，1200 个文件从备份恢复",
                   "lessons": "拦截邮件中的 .js 附件；加强防钓鱼培训", "by": "chen.jie", "at": at(30 * 60)},
    }  # fmt: skip
    return Incident.model_validate(data | changes)


NOW = at(31 * 60)


def html(inc: Incident, lang: str, authority: bool = False, image: str = "svg") -> str:
    return incident_report_html(inc, ALERTS, lang, authority=authority, image=image,  # type: ignore[arg-type]
                                reporter=REPORTER, zone="Asia/Shanghai", now=NOW)  # fmt: skip


def test_deadline_verdicts() -> None:
    kept = checks(incident(), NOW)
    assert [(c.key, c.result, c.elapsed_s) for c in kept] == [("inc.contact3", "met", 120.0),
                                                              ("inc.report24", "met", 20 * 3600.0)]  # fmt: skip
    late = incident(contacted_at=at(5), reported_at=None, status="in_progress")
    assert [(c.result, c.elapsed_s) for c in checks(late, at(60))] == [("missed", 240.0), ("pending", None)]
    assert [c.result for c in checks(late, at(25 * 60))] == ["missed", "overdue"]
    assert [c.key for c in checks(incident(serious=False), NOW)] == ["inc.contact3"]  # only serious ones report


def test_categories_follow_the_playbook_then_the_tags() -> None:
    assert category(incident()) == "malware"
    assert category(incident(playbook="data-leak")) == "information"
    assert category(incident(playbook="system-outage")) == "failure"
    assert category(incident(playbook=None, tags=["attack.exfiltration"])) == "information"
    assert category(incident(playbook=None, tags=["attack.t1110.001"])) == "attack"
    assert category(incident(playbook=None, tags=[])) == "other"


def test_the_incident_report_holds_every_fact_zh_cn() -> None:
    text = html(incident(), "zh-CN")
    assert "安全事件处置报告 · 勒索软件爆发：ws01" in text and "inc-7f3a9c" in text and "演练" not in text
    assert "有害程序事件" in text and "host:ws01" in text and "已复盘结案" in text
    assert "2026-11-10 09:58:00" in text and "2026-11-10 09:59:00" in text  # detected, opened (local time)
    assert "3 分钟内联系到值班人员" in text and "2m 00s" in text and "20h 00m" in text and "超时" not in text
    assert "ws01 上 1200 个文件被改名为 .locked" in text and "ws01 向 14 台主机写入可执行文件" in text
    for fact in ("隔离主机 ws01", "chen.jie", "officer", "同意隔离", "批准", "hold-inc-7f3a9c", "ws01 重装系统",
                 "restored from 2026-11-09 22:00", "已从备份恢复", "duty-mail", "zhang.wei", "authority-report",
                 "Ransomware mass file rename", "57b649ef-ff42-4fb0-8bf6-62da243a1708", "attack.t1486",
                 "attack.t1021.002", "员工打开钓鱼邮件附件 invoice.js", "ws01 停用 4 小时", "加强防钓鱼培训",
                 "<svg"):  # fmt: skip
        assert fact in text, fact
    # The timeline is in time order, whatever order the document had.
    assert text.index("by rule 57b649ef") < text.index("step_done")


def test_the_incident_report_in_english_marks_misses_and_drills() -> None:
    drill = incident(drill=True, contacted_at=at(6), reported_at=None, status="in_progress", review=None)
    text = incident_report_html(drill, ALERTS, "en", reporter=REPORTER, zone="UTC", now=at(26 * 60))
    assert "DRILL (演练): a synthetic incident" in text and "【Drill】Incident report" in text
    assert "@top-center" in text  # the drill mark is on every PDF page
    assert "1200 files renamed to .locked on ws01" in text and "Harmful program" in text
    assert text.count(">missed<") == 1 and text.count(">overdue<") == 1  # the contact came late; no report yet
    assert "no review yet" in text and "2026-11-10 01:58:00" in text and "<td>UTC</td>" in text  # as asked


def test_the_authority_report_zh_cn() -> None:
    text = html(incident(), "zh-CN", authority=True)
    assert "网络安全事件报告（报送主管部门）" in text and "演练" not in text
    for fact in ("示例市信息中心", "王敏", "010-5555 0100", "soc@example.gov", "有害程序事件（计算机病毒",
                 "2026-11-10 09:58:00", "2026-11-11 05:58:00",  # detected; reported 20 h later
                 "2026-11-11 09:58:00", "达标",  # the 24-hour deadline, kept
                 "ws01 停用 4 小时", "隔离主机 ws01", "hold-inc-7f3a9c", "已复盘结案", "invoice.js",
                 "host:ws01"):  # fmt: skip
        assert fact in text, fact


def test_the_authority_report_of_a_drill_says_do_not_submit() -> None:
    text = incident_report_html(incident(drill=True, review=None), ALERTS, "en", authority=True,
                                reporter=Reporter(), zone="Asia/Shanghai", now=NOW)  # fmt: skip
    assert "DRILL (演练): exercise only, not to be submitted" in text
    assert "【Drill】Cybersecurity incident report" in text
    assert "being assessed" in text and "________________" in text  # no review yet; organisation left to fill in


def test_reporter_comes_from_the_report_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_REPORT_ORGANISATION", "示例公司")
    monkeypatch.setenv("VIGIL_REPORT_CONTACT_PHONE", "123")
    assert Reporter.from_settings() == Reporter(organisation="示例公司", phone="123")


@pytest.mark.parametrize(("lang", "authority", "heading"), [
    ("zh-CN", False, "安全事件处置报告"), ("en", False, "Incident report"),
    ("zh-CN", True, "网络安全事件报告"), ("en", True, "Cybersecurity incident report"),
])  # fmt: skip
def test_pdfs_render_with_text_and_ink(lang: str, authority: bool, heading: str) -> None:
    pdf = render.pdf(html(incident(), lang, authority, "png"))
    assert pdf.startswith(b"%PDF")
    document = pypdfium2.PdfDocument(pdf)
    text = document[0].get_textpage().get_text_range()
    assert heading in text and "inc-7f3a9c" in text
    image = document[0].render(scale=1.5).to_pil()
    if lang == "zh-CN" and not authority:
        assert len(document) >= 2
        image.save(PNG_OUT)  # for a person to look at
    assert ImageStat.Stat(image.convert("L")).var[0] > 500  # a blank page has variance 0


def test_a_drill_pdf_is_marked_on_every_page() -> None:
    document = pypdfium2.PdfDocument(render.pdf(html(incident(drill=True), "zh-CN", image="png")))
    assert len(document) >= 2
    assert all("演练（DRILL）" in page.get_textpage().get_text_range() for page in document)


def test_a_fresh_incident_without_steps_or_alerts_renders() -> None:
    fresh = Incident.model_validate({"id": "inc-new", "title": "manual report: outage", "severity": "high",
                                     "serious": True, "detected_at": DETECTED, "opened_at": OPENED,
                                     "opened_by": "li.na", "updated_at": OPENED})  # fmt: skip
    for lang in ("zh-CN", "en"):
        text = incident_report_html(fresh, [], lang, reporter=REPORTER, zone="Asia/Shanghai", now=at(2))
        assert "inc-new" in text and "<svg" in text and text.count(">pending<" if lang == "en" else ">进行中<") == 2
        authority = incident_report_html(fresh, [], lang, authority=True, reporter=REPORTER, zone="UTC", now=at(2))
        assert "manual report: outage" in authority and ("none recorded yet" in authority or "尚无记录" in authority)
