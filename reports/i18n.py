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
    "inc.title": "Incident report", "auth.title": "Cybersecurity incident report to the authorities",
    "drill.banner": "DRILL (演练): a synthetic incident for an exercise, not a real incident",
    "drill.auth": "DRILL (演练): exercise only, not to be submitted to the authorities", "drill": "Drill",
    "drills": "Drills",
    "inc.summary": "Summary", "inc.id": "Incident", "inc.entity": "Entity", "inc.serious": "Serious (24-hour report)",
    "inc.playbook": "Playbook", "inc.assignee": "Assignee", "inc.opened": "Opened", "inc.opened_by": "Opened by",
    "inc.detected": "Detected", "inc.first_seen": "First event", "inc.last_seen": "Last event",
    "inc.closed": "Closed", "inc.reported": "Reported to the authorities", "inc.contacted": "On-duty contact",
    "inc.compliance": "Deadline compliance", "inc.check": "Check", "inc.limit": "Limit", "inc.from": "From",
    "inc.done_at": "Done at", "inc.elapsed": "Elapsed", "inc.result": "Result", "met": "met", "missed": "missed",
    "pending": "pending", "overdue": "overdue", "inc.contact3": "On-duty person reached within 3 minutes",
    "inc.report24": "Serious incident reported within 24 hours of detection", "inc.deadlines": "Playbook deadlines",
    "inc.chart": "Response timeline (minutes since detection, log scale) and deadlines",
    "inc.timeline": "Timeline", "inc.at": "Time", "inc.actor": "Who", "inc.action": "Action", "inc.step": "Step",
    "inc.detail": "Detail", "inc.evidence": "Evidence", "inc.steps": "Playbook steps", "inc.kind": "Kind",
    "inc.started": "Started", "inc.completed": "Completed", "inc.by": "By", "inc.comment": "Comment",
    "inc.deliveries": "Notifications", "inc.attachments": "Attachments", "inc.alerts": "Alerts",
    "inc.attack": "ATT&CK", "inc.events": "Events", "inc.approvals": "Containment approvals",
    "inc.decision": "Decision", "inc.role": "Role", "inc.holds": "Evidence holds (legal holds)",
    "inc.hold": "Hold", "inc.contacts": "Contact attempts", "inc.person": "Person", "inc.level": "Level",
    "inc.acknowledged": "Acknowledged", "inc.review": "Review (post-incident)", "inc.cause": "Cause",
    "inc.impact": "Impact", "inc.lessons": "Lessons", "inc.no_review": "no review yet", "inc.none": "none",
    "inc.not_yet": "not yet", "approve": "approved", "reject": "rejected",
    "auth.org": "Reporting organisation", "auth.contact": "Contact person", "auth.phone": "Telephone",
    "auth.email": "E-mail", "auth.incident": "The incident", "auth.category": "Incident category",
    "auth.grade": "Severity", "auth.detected": "Time of detection", "auth.reported": "Time of this report",
    "auth.deadline": "Report deadline (detection + 24 h)", "auth.description": "Description",
    "auth.affected": "Affected systems and accounts", "auth.impact": "Impact", "auth.to_assess": "being assessed",
    "auth.measures": "Measures taken", "auth.status": "Current status", "auth.cause": "Cause",
    "auth.signature": "Person in charge (signature)", "auth.date": "Date", "auth.no_measures": "none recorded yet",
    "cat.malware": "Harmful program (virus, worm, trojan, ransomware)",
    "cat.attack": "Network attack (hacker attack, intrusion, account compromise)",
    "cat.information": "Information destruction (data leak, tampering, log clearing)",
    "cat.failure": "Equipment or facility failure (outage)", "cat.other": "Other incident (policy violation)",
    "status.open": "open, not yet acknowledged", "status.acknowledged": "acknowledged by the on-duty person",
    "status.in_progress": "response under way", "status.resolved": "resolved, review pending",
    "status.closed": "closed after review", "status.cancelled": "cancelled",
    "index": "Index", "verified_at": "Verified at", "intact": "intact", "altered": "ALTERED", "modified": "Modified",
    "deleted": "Deleted", "inserted": "Inserted", "chain_breaks": "Chain breaks",
    "retired": "deleted by retention", "unverified": "Not verified yet",
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
    "inc.title": "安全事件处置报告", "auth.title": "网络安全事件报告（报送主管部门）",
    "drill.banner": "演练（DRILL）：此为应急演练的模拟事件，并非真实事件",
    "drill.auth": "演练（DRILL）：仅用于应急演练，请勿报送主管部门", "drill": "演练", "drills": "演练",
    "inc.summary": "事件概要", "inc.id": "事件编号", "inc.entity": "涉及对象",
    "inc.serious": "重大事件（24 小时内上报）",
    "inc.playbook": "应急预案", "inc.assignee": "负责人", "inc.opened": "立案时间", "inc.opened_by": "立案人",
    "inc.detected": "发现时间", "inc.first_seen": "最早事件时间", "inc.last_seen": "最近事件时间",
    "inc.closed": "结案时间", "inc.reported": "上报主管部门时间", "inc.contacted": "值班人员响应",
    "inc.compliance": "时限达标情况", "inc.check": "检查项", "inc.limit": "时限", "inc.from": "起算时间",
    "inc.done_at": "完成时间", "inc.elapsed": "用时", "inc.result": "结果", "met": "达标", "missed": "超时",
    "pending": "进行中", "overdue": "已超时", "inc.contact3": "3 分钟内联系到值班人员",
    "inc.report24": "重大事件发现后 24 小时内上报", "inc.deadlines": "预案时限",
    "inc.chart": "处置时间线（自发现起的分钟数，对数刻度）与时限",
    "inc.timeline": "处置时间线", "inc.at": "时间", "inc.actor": "操作人", "inc.action": "操作", "inc.step": "步骤",
    "inc.detail": "说明", "inc.evidence": "证据", "inc.steps": "预案步骤", "inc.kind": "类型",
    "inc.started": "开始", "inc.completed": "完成", "inc.by": "执行人", "inc.comment": "备注",
    "inc.deliveries": "通知", "inc.attachments": "附件", "inc.alerts": "告警", "inc.attack": "ATT&CK",
    "inc.events": "事件数", "inc.approvals": "遏制措施审批", "inc.decision": "决定", "inc.role": "角色",
    "inc.holds": "证据保全（日志冻结）", "inc.hold": "保全", "inc.contacts": "联系记录", "inc.person": "联系人",
    "inc.level": "级别", "inc.acknowledged": "已确认", "inc.review": "事后复盘", "inc.cause": "原因",
    "inc.impact": "影响", "inc.lessons": "经验教训", "inc.no_review": "尚未复盘", "inc.none": "无",
    "inc.not_yet": "尚未", "approve": "批准", "reject": "驳回",
    "auth.org": "报告单位", "auth.contact": "联系人", "auth.phone": "联系电话", "auth.email": "电子邮箱",
    "auth.incident": "事件情况", "auth.category": "事件类别", "auth.grade": "事件级别", "auth.detected": "发现时间",
    "auth.reported": "报告时间", "auth.deadline": "报告时限（发现后 24 小时）", "auth.description": "事件经过",
    "auth.affected": "受影响的系统和账号", "auth.impact": "影响范围及损失", "auth.to_assess": "正在评估",
    "auth.measures": "已采取的处置措施", "auth.status": "目前状况", "auth.cause": "事件原因",
    "auth.signature": "单位负责人（签字）", "auth.date": "日期", "auth.no_measures": "尚无记录",
    "cat.malware": "有害程序事件（计算机病毒、蠕虫、木马、勒索软件）",
    "cat.attack": "网络攻击事件（黑客攻击、入侵、账号被盗用）",
    "cat.information": "信息破坏事件（信息泄露、篡改、日志被清除）",
    "cat.failure": "设备设施故障（系统停运）", "cat.other": "其他事件（违规行为）",
    "status.open": "已立案，值班人员尚未确认", "status.acknowledged": "值班人员已确认",
    "status.in_progress": "正在处置", "status.resolved": "已处置，待复盘", "status.closed": "已复盘结案",
    "status.cancelled": "已撤销",
    "index": "索引", "verified_at": "校验时间", "intact": "完整", "altered": "已被篡改", "modified": "被修改",
    "deleted": "被删除", "inserted": "被插入", "chain_breaks": "账本链断裂", "retired": "已按保存期限删除",
    "unverified": "尚未校验",
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
