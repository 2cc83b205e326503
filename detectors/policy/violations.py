"""Policy violations (rule 5; rule 1 for log clearing): one event each, no window needed.

- prohibited software started (4688, Sysmon 1, auditd EXECVE): configurable name patterns per
  category (games, chat, hacking tools);
- a proxy server set up (3proxy, ccproxy, squid... started, `netsh interface portproxy add`, `ssh -D`);
- audit log cleared (Security 1102, System 104, `wevtutil cl`, `Clear-EventLog`, truncating /var/log);
- security software stopped (7036 "stopped" / 7040 "disabled" for an AV or audit service, Defender
  5001/5010/5012, `sc stop WinDefend`, `Set-MpPreference -Disable...`, `systemctl stop auditd`);
- accounts: a new account (4720, useradd) and a member added to an administrators group
  (4728/4732/4756 into an admin group, `usermod -aG sudo|wheel`); an account created within
  `new_admin_window` and then made admin is a *new admin account* (critical).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, Field

from core.models.alert import AlertDraft, Severity
from core.models.ecs import EcsEvent
from detectors.base import SigmaHit
from detectors.policy.common import (
    Finding,
    PolicyDetector,
    PolicyRule,
    entity,
    has,
    host_of,
    process_names,
    target_user,
    user_of,
)
from detectors.policy.window import Cooldown

PROHIBITED = PolicyRule(
    "vigil-policy-prohibited-software",
    "Prohibited software started",
    "policy-violation",
    Severity.MEDIUM,
    ("attack.execution", "attack.t1204.002"),
    "5",
)
PROXY = PolicyRule(
    "vigil-policy-proxy-server",
    "Proxy server set up",
    "policy-violation",
    Severity.HIGH,
    ("attack.command-and-control", "attack.t1090"),
    "5",
)
LOG_CLEARED = PolicyRule(
    "vigil-policy-audit-log-cleared",
    "Audit log cleared",
    "audit-log-cleared",
    Severity.HIGH,
    ("attack.defense-evasion", "attack.t1070.001"),
    "1",
)
SECURITY_STOPPED = PolicyRule(
    "vigil-policy-security-software-stopped",
    "Security software stopped",
    "policy-violation",
    Severity.HIGH,
    ("attack.defense-evasion", "attack.t1562.001"),
    "5",
)
ACCOUNT_CREATED = PolicyRule(
    "vigil-policy-account-created",
    "New account created",
    "policy-violation",
    Severity.LOW,
    ("attack.persistence", "attack.t1136"),
    "4",
)
PRIVILEGED_GROUP = PolicyRule(
    "vigil-policy-privileged-group-change",
    "Member added to an administrators group",
    "policy-violation",
    Severity.HIGH,
    ("attack.persistence", "attack.t1098"),
    "4",
)

_ZH = {"game": "游戏", "chat": "聊天", "hacking": "黑客工具"}


class ViolationsConfig(BaseModel):
    prohibited: dict[str, list[str]] = Field(default_factory=lambda: {
        "game": ["steam.exe", "wegame.exe", "leagueclient*.exe", "league of legends.exe", "minesweeper*",
                 "solitaire*", "sol.exe", "freecell.exe", "wow.exe", "genshinimpact.exe", "dota2.exe"],
        "chat": ["wechat.exe", "weixin.exe", "qq.exe", "tim.exe", "telegram.exe", "discord.exe",
                 "whatsapp.exe", "skype.exe", "dingtalk.exe"],
        "hacking": ["mimikatz*", "nmap*", "masscan*", "hydra*", "john", "john.exe", "hashcat*", "sqlmap*",
                    "cain.exe", "lazagne*", "rubeus.exe", "sharphound*", "bloodhound*", "responder*",
                    "crackmapexec*", "cme", "nc.exe", "ncat*", "netcat", "msfconsole", "meterpreter*",
                    "cobaltstrike*", "beacon.exe", "procdump*.exe", "pwdump*", "wce.exe", "psexec*.exe"],
    })  # fmt: skip
    proxy_processes: list[str] = Field(default_factory=lambda: [
        "3proxy*", "ccproxy*", "squid", "squid.exe", "privoxy*", "tinyproxy", "sockd", "danted", "frps*",
        "frpc*", "ngrok*", "goproxy*", "proxy.exe", "socat", "microsocks", "gost*", "ew.exe", "earthworm*",
    ])  # fmt: skip
    proxy_commands: list[str] = Field(default_factory=lambda: [
        r"netsh(\.exe)?\s+interface\s+portproxy\s+add", r"\bssh\b.*\s-[a-z]*[DR]\s*\d", r"\bsocat\b.*listen",
    ])  # fmt: skip
    log_clear_commands: list[str] = Field(default_factory=lambda: [
        r"wevtutil(\.exe)?\s+(cl|clear-log)\b", r"clear-eventlog\b", r"remove-eventlog\b",
        r"\b(rm|shred|truncate)\b.*\s/var/log/", r">\s*/var/log/\S+", r"journalctl\s+.*--vacuum",
    ])  # fmt: skip
    security_services: list[str] = Field(default_factory=lambda: [
        "windefend", "microsoft defender*", "windows defender*", "sense", "wdnissvc", "mpssvc",
        "windows firewall", "sysmon*", "eventlog", "windows event log", "*antivirus*", "*360*", "*kaspersky*",
        "*symantec*", "*mcafee*", "*eset*", "*sophos*", "*crowdstrike*", "*huorong*", "auditd", "clamav*",
        "clamd", "falcon-sensor", "osqueryd", "wazuh*", "ossec*",
    ])  # fmt: skip
    security_stop_commands: list[str] = Field(default_factory=lambda: [
        r"\b(sc|net)(\.exe)?\s+(stop|config)\s+\"?(windefend|sense|wdnissvc|mpssvc|sysmon\w*|eventlog)",
        r"set-mppreference\s+.*-disable\w+\s+(\$true|1)", r"add-mppreference\s+.*-exclusion",
        r"set-mppreference\s+.*-(enable\w+|puaprotection)\s+\"?(disabled?|0|\$false)\b",
        r"\b(systemctl|service)\s+(stop|disable|mask)\s+(auditd|clamav\S*|falcon-sensor|osqueryd|wazuh\S*)",
        r"\bservice\s+(auditd|clamav\S*)\s+stop", r"\bsetenforce\s+0",
    ])  # fmt: skip
    defender_disabled_codes: list[str] = Field(default_factory=lambda: ["5001", "5010", "5012"])
    admin_groups: list[str] = Field(default_factory=lambda: [
        "administrators", "domain admins", "enterprise admins", "schema admins", "account operators",
        "backup operators", "server operators", "dnsadmins", "group policy creator owners",
        "organization management", "exchange*admin*", "sudo", "wheel", "admin", "root", "管理员",
        "administratoren", "administrateurs",
    ])  # fmt: skip
    admin_group_sids: list[str] = Field(default_factory=lambda: [
        r"^S-1-5-32-5(44|48|49|51)$", r"^S-1-5-21-.*-(512|518|519|520|1101)$",
    ])  # fmt: skip
    proxy_ports: list[int] = Field(default_factory=lambda: [1080, 3128, 8118, 8888, 9050, 10808, 7890])
    allowed_proxy_hosts: list[str] = Field(default_factory=list, description="the sanctioned proxies (patterns)")
    new_admin_window: timedelta = timedelta(hours=24)
    suppress: timedelta = timedelta(hours=1)


class Grant(BaseModel):
    at: AwareDatetime
    group: str
    member: str


class ViolationsState(BaseModel):
    created: dict[str, AwareDatetime] = Field(default_factory=dict)  # account name or SID → creation time
    granted: dict[str, Grant] = Field(default_factory=dict)  # account name or SID → last admin grant
    cooldown: Cooldown = Field(default_factory=Cooldown)


class PolicyViolationDetector(PolicyDetector[ViolationsState]):
    name = "policy.violations"
    keyed_by = ("host",)
    state_model = ViolationsState

    def __init__(self, config: ViolationsConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or ViolationsConfig()

        def rx(patterns: list[str]) -> list[re.Pattern[str]]:
            return [re.compile(p, re.IGNORECASE) for p in patterns]

        self._proxy_cmd, self._clear_cmd = rx(cfg.proxy_commands), rx(cfg.log_clear_commands)
        self._stop_cmd, self._admin_sids = rx(cfg.security_stop_commands), rx(cfg.admin_group_sids)
        # The only event codes `_service_stopped` can report: every other event leaves at one lookup.
        self._service_codes = frozenset({_SERVICE_STATE, _START_TYPE, _SYSMON_STATE, *cfg.defender_disabled_codes})

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        findings = [*self._process(event), *self._log_cleared(event), *self._service_stopped(event),
                    *self._accounts(event), *self._listening_proxy(event)]  # fmt: skip
        cfg = self.config
        return [f.alert() for f in findings if self.state.cooldown.ready(f.key, event.timestamp, cfg.suppress)]

    def _who(self, event: EcsEvent) -> tuple[str, str]:
        host = host_of(event) or event.vigil.source
        account = user_of(event)
        return (f"{account} on {host}" if account else host), host

    def _finding(self, rule: PolicyRule, event: EcsEvent, en: str, zh: str, dedup: str, **ctx: str | None) -> Finding:
        account, host = user_of(event), host_of(event) or event.vigil.source
        who = entity("user", account) if account else entity("host", host)
        return Finding(rule, who, [event], en=en, zh=zh, dedup=f"{host}|{dedup}",
                       context={"host": host, "user": account, "event_code": event.event.code, **ctx})  # fmt: skip

    def _process(self, event: EcsEvent) -> list[Finding]:
        if not has(event, "process", "start"):
            return []
        names = process_names(event)
        command = _command(event)
        actor, _ = self._who(event)
        found: list[Finding] = []
        for category, patterns in self.config.prohibited.items():
            if match := _first(names, patterns):
                finding = self._finding(
                    PROHIBITED,
                    event,
                    f"{actor} started prohibited {category} software {match}",
                    f"{actor} 运行了违规{_ZH.get(category, category)}软件 {match}",
                    f"{category}|{match}",
                    category=category,
                    process=match,
                    command_line=command[:500] or None,
                )
                if category == "hacking":
                    finding.severity = Severity.HIGH
                found.append(finding)
                break
        proxy = _first(names, self.config.proxy_processes)
        if proxy or any(p.search(command) for p in self._proxy_cmd):
            what = proxy or command[:80]
            found.append(self._finding(PROXY, event, f"{actor} set up a proxy server: {what}",
                                       f"{actor} 私自架设代理服务器：{what}", f"proxy|{what}",
                                       process=proxy, command_line=command[:500] or None))  # fmt: skip
        if any(p.search(command) for p in self._clear_cmd):
            found.append(self._finding(LOG_CLEARED, event, f"{actor} ran a log-clearing command: {command[:80]}",
                                       f"{actor} 执行了清除日志的命令：{command[:80]}", f"clear|{command[:80]}",
                                       command_line=command[:500]))  # fmt: skip
        if any(p.search(command) for p in self._stop_cmd):
            found.append(self._finding(SECURITY_STOPPED, event, f"{actor} stopped or disabled security software: "
                                       f"{command[:80]}", f"{actor} 停用了安全软件：{command[:80]}",
                                       f"stopcmd|{command[:80]}", command_line=command[:500]))  # fmt: skip
        return found

    def _log_cleared(self, event: EcsEvent) -> list[Finding]:
        if event.event.action not in ("audit-log-cleared", "log-cleared"):
            return []
        actor, _ = self._who(event)
        channel = (event.winlog.event_data.get("Channel") if event.winlog else None) or (
            "Security" if event.event.code == "1102" else "System/other"
        )
        return [self._finding(LOG_CLEARED, event, f"{actor} cleared the {channel} event log (event {event.event.code})",
                              f"{actor} 清除了 {channel} 事件日志（事件 {event.event.code}）",
                              f"clear|{event.event.code}", channel=str(channel))]  # fmt: skip

    def _service_stopped(self, event: EcsEvent) -> list[Finding]:
        if event.event.code not in self._service_codes:
            return []
        code, data = event.event.code, (event.winlog.event_data if event.winlog else {})
        service = event.service.name if event.service else None
        provider = f"{event.event.provider or ''}|{event.winlog.channel if event.winlog else ''}".lower()
        state = str(data.get("param2") or data.get("State") or "").lower()
        stopped = (code == _SERVICE_STATE and ("stop" in state or "已停止" in state)) or (
            code == _START_TYPE and "disabled" in str(data.get("param3", "")).lower()
        )
        if code == _SYSMON_STATE and "sysmon" in provider and state == "stopped":
            service, stopped = "Sysmon", True
        defender = "defender" in provider and code in self.config.defender_disabled_codes
        if not (defender or (stopped and service and _first([service.lower()], self.config.security_services))):
            return []
        actor, _ = self._who(event)
        what = "Microsoft Defender protection" if defender else service
        return [self._finding(SECURITY_STOPPED, event, f"{what} stopped or disabled on {actor} (event {code})",
                              f"{actor} 上的安全软件 {what} 被停止或禁用（事件 {code}）", f"svc|{what}",
                              service=what)]  # fmt: skip

    def _accounts(self, event: EcsEvent) -> list[Finding]:
        action = event.event.action
        if action not in _ACCOUNT_ACTIONS:  # nearly every event: nothing below is worth computing
            return []
        actor, _ = self._who(event)
        target = target_user(event)
        sid = event.user.target.id if event.user and event.user.target else None
        keys = [k.lower() for k in (target, sid) if k]
        window = self.config.new_admin_window
        if action in _CREATED and event.event.outcome != "failure":
            for key in keys:
                self.state.created[key] = event.timestamp
            self._expire(event.timestamp)
            name = target or sid or "?"
            found = [self._finding(ACCOUNT_CREATED, event, f"account {name} created by {actor}",
                                   f"{actor} 新建了账号 {name}", f"created|{name}", account=name)]  # fmt: skip
            # the grant may have arrived first (out of order): the account is still a new admin
            grants = [g for k in keys if (g := self.state.granted.get(k))]
            late = [g for g in grants if timedelta(0) <= g.at - event.timestamp <= window]
            return found + [self._admin(event, g.group, g.member, fresh=True) for g in late[:1]]
        if action not in _ADDED_TO_GROUP or not self._admin_group(event):
            return []
        group = event.group.name if event.group and event.group.name else "?"
        member = target or sid or "?"
        for key in keys:
            self.state.granted[key] = Grant(at=event.timestamp, group=group, member=member)
        made = next((self.state.created[k] for k in keys if k in self.state.created), None)
        fresh = made is not None and timedelta(0) <= event.timestamp - made <= window
        return [self._admin(event, group, member, fresh=fresh)]

    def _admin(self, event: EcsEvent, group: str, member: str, *, fresh: bool) -> Finding:
        actor, _ = self._who(event)
        new_en, new_zh = ("new account ", "新建账号 ") if fresh else ("", "")
        finding = self._finding(
            PRIVILEGED_GROUP, event, f"{new_en}{member} added to administrators group {group} by {actor}",
            f"{actor} 将{new_zh}{member} 加入管理员组 {group}", f"group|{group}|{member}|{fresh}",
            group=group, member=member, new_account=str(fresh).lower(),
        )  # fmt: skip
        if fresh:
            finding.severity = Severity.CRITICAL
        return finding

    def _listening_proxy(self, event: EcsEvent) -> list[Finding]:
        """A workstation accepting connections on a proxy port (Sysmon 3 inbound, firewall accept)."""
        cfg = self.config
        port = event.destination.port if event.destination else None
        if not (event.network and event.network.direction == "ingress" and port in cfg.proxy_ports):
            return []
        host = host_of(event)
        if host is None or _first([host], cfg.allowed_proxy_hosts):
            return []
        actor, _ = self._who(event)
        app = event.process.name if event.process else None
        return [self._finding(PROXY, event, f"{actor} accepts connections on proxy port {port} ({app or '?'})",
                              f"{actor} 在代理端口 {port} 上接受连接（{app or '?'}），疑似私设代理",
                              f"listen|{port}", process=app, port=str(port))]  # fmt: skip

    def _admin_group(self, event: EcsEvent) -> bool:
        group = event.group
        if group is None:
            return False
        if group.id and any(p.search(group.id) for p in self._admin_sids):
            return True
        return bool(group.name and _first([group.name.lower()], self.config.admin_groups))

    def _expire(self, now: datetime) -> None:
        window = self.config.new_admin_window
        for key in [k for k, ts in self.state.created.items() if now - ts > window]:
            del self.state.created[key]
        for key in [k for k, g in self.state.granted.items() if now - g.at > window]:
            del self.state.granted[key]

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        self._expire(now)
        self.state.cooldown.expire(now, self.config.suppress)
        return []


_SERVICE_STATE, _START_TYPE = "7036", "7040"  # System: a service changed state / start type
_SYSMON_STATE = "4"  # Sysmon: the service state changed
_CREATED = frozenset({"user-account-created", "user-created", "add_user"})
_ADDED_TO_GROUP = frozenset({"added-member-to-group", "added-user-to-group"})
_ACCOUNT_ACTIONS = _CREATED | _ADDED_TO_GROUP


def _first(names: list[str], patterns: list[str]) -> str | None:
    return next((n for n in names for p in patterns if fnmatch.fnmatchcase(n, p.lower())), None)


def _command(event: EcsEvent) -> str:
    proc = event.process
    if proc is None:
        return ""
    return proc.command_line or " ".join(proc.args) or ""
