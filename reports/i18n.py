"""The report message catalogue (zh-CN and en) and local-time formatting."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from reports.errors import ReportError

LANGUAGES = ("zh-CN", "en")

_EN = {
    "patrol.title": "Daily patrol record", "eval.monthly": "Monthly evaluation",
    "eval.quarterly": "Quarterly evaluation",
    "day": "Day", "period": "Period", "zone": "Time zone", "generated": "Generated", "version": "Version",
    "hash": "Record hash", "logs": "Log-source health", "events": "Events", "category": "Category",
    "source": "Source", "hourly": "Events per category per hour",
    "silent": "Silent sources (seen in the previous 7 days, none on the day)",
    "none": "none", "deadletters": "Dead letters", "reason": "Reason", "count": "Count", "alerts": "Alerts",
    "severity": "Severity", "rule": "Rule", "status": "Status", "tta": "Time to acknowledge",
    "mtta": "Mean time to acknowledge", "mttr": "Mean time to resolve", "max_tta": "Longest time to acknowledge",
    "acknowledged": "Acknowledged", "resolved": "Resolved", "unack_high": "High/critical alerts not acknowledged",
    "incidents": "Open incidents and deadlines", "incidents.none": "incident engine not configured",
    "incidents.empty": "no open incident", "deadline": "Deadline", "due": "Due",
    "retention": "Retention and integrity", "compliant": "Compliant", "yes": "yes", "no": "no",
    "integrity": "Integrity ledger", "not_available": "not available", "oldest": "Oldest day", "newest": "Newest day",
    "gaps": "Gaps", "days_kept": "Days kept", "rules": "Rules loaded", "rules.loaded": "loaded",
    "rules.skipped": "skipped", "rules.correlations": "correlations", "rules.none": "no rule summary stored",
    "rules.disabled": "disabled", "rules.reasons": "skipped by reason",
    "notable": "Notable entities", "users": "Users", "hosts": "Hosts", "findings": "Findings",
    "actions": "Actions taken", "remarks": "Remarks", "signoff": "Officer sign-off", "signed_by": "Signed by",
    "signed_at": "Signed at", "unsigned": "not signed yet", "fill_in": "(to be filled in by the officer)",
    "availability": "Availability of pipeline components", "component": "Component", "ok_samples": "OK samples",
    "expected": "Expected samples", "accuracy": "Ingestion accuracy", "dl_ratio": "Dead-letter ratio",
    "response": "Alert response times", "fp": "False positives per rule", "fp_ratio": "False-positive ratio",
    "incident_compliance": "Incidents and deadline compliance", "contact3": "On-duty contact within 3 minutes",
    "report24": "Serious incidents reported within 24 hours", "patrol_compliance": "Patrol sign-off compliance",
    "working_days": "Working days", "signed_days": "Signed days", "unsigned_days": "Unsigned days",
    "months": "Months", "alerts_by_severity": "Alerts per severity",
}  # fmt: skip
_ZH = {
    "patrol.title": "日常巡查记录", "eval.monthly": "月度服务质量评估", "eval.quarterly": "季度服务质量评估",
    "day": "日期", "period": "期间", "zone": "时区", "generated": "生成时间", "version": "版本",
    "hash": "记录哈希", "logs": "日志源健康状况", "events": "事件数", "category": "类别", "source": "日志源",
    "hourly": "各类别每小时事件数", "silent": "静默日志源（前 7 天有数据，当天无数据）", "none": "无",
    "deadletters": "死信（无法解析的记录）", "reason": "原因", "count": "数量", "alerts": "告警", "severity": "级别",
    "rule": "规则", "status": "状态", "tta": "确认用时", "mtta": "平均确认用时", "mttr": "平均处置用时",
    "max_tta": "最长确认用时", "acknowledged": "已确认", "resolved": "已处置", "unack_high": "未确认的高危/严重告警",
    "incidents": "未结事件及时限", "incidents.none": "事件引擎未配置", "incidents.empty": "无未结事件",
    "deadline": "时限", "due": "截止", "retention": "日志保存与完整性", "compliant": "合规", "yes": "是", "no": "否",
    "integrity": "完整性账本", "not_available": "暂不可用", "oldest": "最早日期", "newest": "最新日期",
    "gaps": "缺失天数", "days_kept": "保存天数", "rules": "已加载规则", "rules.loaded": "已加载",
    "rules.skipped": "已跳过", "rules.correlations": "关联规则", "rules.none": "未存储规则摘要",
    "rules.disabled": "已停用", "rules.reasons": "跳过原因",
    "notable": "重点关注对象", "users": "用户", "hosts": "主机", "findings": "巡查发现", "actions": "处置措施",
    "remarks": "备注", "signoff": "安全员签字", "signed_by": "签字人", "signed_at": "签字时间",
    "unsigned": "尚未签字", "fill_in": "（由安全员填写）", "availability": "系统组件可用性", "component": "组件",
    "ok_samples": "正常采样数", "expected": "应有采样数", "accuracy": "采集准确性", "dl_ratio": "死信比例",
    "response": "告警响应时间", "fp": "各规则误报率", "fp_ratio": "误报率", "incident_compliance": "事件及时限达标情况",
    "contact3": "值班人员 3 分钟内响应", "report24": "重大事件 24 小时内上报", "patrol_compliance": "巡查签字达标率",
    "working_days": "工作日", "signed_days": "已签字天数", "unsigned_days": "未签字日期", "months": "各月",
    "alerts_by_severity": "各级别告警数",
}  # fmt: skip
CATALOGUE = {"en": _EN, "zh-CN": _ZH}


def check_language(lang: str) -> str:
    if lang not in CATALOGUE:
        raise ReportError(f"unknown language {lang!r}: use one of {', '.join(LANGUAGES)}")
    return lang


def translator(lang: str):  # type: ignore[no-untyped-def]
    messages = CATALOGUE[check_language(lang)]
    return lambda key: messages.get(key, _EN.get(key, key))


def local_time(value: datetime | None, zone: str) -> str:
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") if value else "-"


def duration(seconds: float | None) -> str:
    """`3m 20s`, `2h 05m`: what an officer reads at a glance."""
    if seconds is None:
        return "-"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"
