"""Unauthorized access (policy rules 4, 8): each access judged against the inventory, one event at a time.

- clearance: the resource is classified above the user's clearance (越权);
- entitlement: the resource names allowed roles/users and the user is none of them (nor the owner);
- departed-access: a departed account still used, or a transferred one still using what its old job
  allowed, more than `grace_days` after the change date;
- off-hours: classified data (≥ `off_hours_min`) touched outside the user's working hours (calendar
  holidays and make-up days included, shifts across midnight, zone Asia/Shanghai by default);
- unassigned-ip: a logon from an address the inventory does not assign to the user;
- vendor-window: a vendor account or address in an important zone outside its approved windows.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from core.models.alert import AlertDraft, Severity
from core.models.ecs import EcsEvent
from core.models.entity import Clearance, Resource, User, UserStatus, is_working_time
from detectors.base import SigmaHit
from detectors.inventory import EntityIndex
from detectors.policy.common import (
    Finding,
    PolicyDetector,
    PolicyRule,
    entity,
    has,
    host_of,
    local_text,
    login_started,
    share_of,
    source_ip,
    user_of,
)
from detectors.policy.window import Cooldown

CLEARANCE = PolicyRule(
    "vigil-policy-clearance",
    "Classified resource above the user's clearance",
    "unauthorized-access",
    Severity.HIGH,
    ("attack.collection", "attack.t1039"),
    "4",
)
ENTITLEMENT = PolicyRule(
    "vigil-policy-entitlement",
    "Resource outside the user's entitlements",
    "unauthorized-access",
    Severity.MEDIUM,
    ("attack.collection", "attack.t1039"),
    "4",
)
DEPARTED = PolicyRule(
    "vigil-policy-departed-access",
    "Departed or transferred account still in use",
    "departed-access",
    Severity.HIGH,
    ("attack.initial-access", "attack.t1078"),
    "4",
)
OFF_HOURS = PolicyRule(
    "vigil-policy-off-hours",
    "Classified data accessed outside working hours",
    "unauthorized-access",
    Severity.MEDIUM,
    ("attack.t1078",),
    "4",
)
UNASSIGNED_IP = PolicyRule(
    "vigil-policy-unassigned-ip",
    "Logon from an address not assigned to the user",
    "unauthorized-access",
    Severity.MEDIUM,
    ("attack.t1078",),
    "5",
)
VENDOR = PolicyRule(
    "vigil-policy-vendor-window",
    "Vendor access to an important zone outside its window",
    "vendor-access",
    Severity.HIGH,
    ("attack.initial-access", "attack.t1199"),
    "8",
)


class AccessConfig(BaseModel):
    grace_days: int = 3
    off_hours_min: Clearance = Clearance.INTERNAL
    suppress: timedelta = timedelta(hours=1)


class AccessState(BaseModel):
    cooldown: Cooldown = Field(default_factory=Cooldown)


class UnauthorizedAccessDetector(PolicyDetector[AccessState]):
    name = "policy.access"
    keyed_by = ("user",)
    state_model = AccessState

    def __init__(self, index: EntityIndex, config: AccessConfig | None = None) -> None:
        super().__init__()
        self.index, self.config = index, config or AccessConfig()

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        account = user_of(event)
        if account is None or event.event.outcome == "failure":
            return []
        user = self.index.user(account)
        resource = self._resource(event)
        if self.index.vendor(account=account, ip=source_ip(event)) is not None:
            findings = self._vendor(event, account, resource)  # vendors are judged by their contract
        else:
            findings = [
                *self._departed(event, account, user, resource),
                *self._resource_checks(event, account, user, resource),
                *self._unassigned_ip(event, account, user),
            ]
        cooldown, period = self.state.cooldown, self.config.suppress
        return [f.alert() for f in findings if cooldown.ready(f.key, event.timestamp, period)]

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        self.state.cooldown.expire(now, self.config.suppress)
        return []

    def _resource(self, event: EcsEvent) -> Resource | None:
        if has(event, "file") or has(event, "session"):
            found = self.index.resource_for_path(event.file.path if event.file else None)
            if found := found or self.index.resource_for_share(share_of(event)):
                return found
        if login_started(event) or has(event, "file"):
            dest = event.destination.ip if event.destination else None
            return self.index.resource_for_host(host_of(event)) or self.index.zone_for_ip(dest)
        return None

    def _departed(self, event: EcsEvent, account: str, user: User | None, res: Resource | None) -> list[Finding]:
        if user is None or user.status is UserStatus.ACTIVE or user.status_changed is None:
            return []
        deadline = user.status_changed + timedelta(days=self.config.grace_days)
        zone = ZoneInfo(self.index.calendar.zone)
        if event.timestamp.astimezone(zone).date() <= deadline:
            return []
        if user.status is UserStatus.TRANSFERRED and (res is None or self._allowed(user, res, user.role)):
            return []  # a transferred user keeps a job: only access the new role does not allow counts
        what = f" {res.id}" if res else ""
        days = (event.timestamp.astimezone(zone).date() - user.status_changed).days
        status_zh = "离职" if user.status is UserStatus.DEPARTED else "调岗"
        return [Finding(
            DEPARTED, entity("user", account), [event],
            en=f"{user.status.value} account {account} used{what} {days} days after {user.status_changed}",
            zh=f"{status_zh}账号 {account} 在变更日 {user.status_changed} 后第 {days} 天仍被使用{what}",
            dedup=f"{account}|{res.id if res else ''}",
            context={"status": user.status.value, "status_changed": str(user.status_changed), "days": days,
                     "resource": res.id if res else None, "host": host_of(event)},
        )]  # fmt: skip

    def _allowed(self, user: User, res: Resource, role: str | None) -> bool:
        if not res.restricted or (res.owner and res.owner.lower() == user.name.lower()):
            return True
        names = {u.lower() for u in res.allowed_users}
        return user.name.lower() in names or bool(role and role in res.allowed_roles)

    def _resource_checks(self, event: EcsEvent, account: str, user: User | None, res: Resource | None) -> list[Finding]:
        if res is None:
            return []
        found: list[Finding] = []
        ctx = {"resource": res.id, "classification": res.classification.value, "path": _path(event),
               "host": host_of(event), "source_ip": source_ip(event)}  # fmt: skip
        clearance = user.clearance if user else Clearance.PUBLIC
        label = f"{res.id} ({res.classification.value}/{res.classification.zh})"
        if res.classification.rank > clearance.rank:
            found.append(Finding(
                CLEARANCE, entity("user", account), [event],
                en=f"{account} (clearance {clearance.value}) accessed {label}",
                zh=f"{account}（密级 {clearance.zh}）访问了高于其密级的资源 {label}",
                dedup=f"{account}|{res.id}", context={**ctx, "clearance": clearance.value},
            ))  # fmt: skip
        elif res.restricted and not (user and self._allowed(user, res, user.role)):
            role = user.role if user else None
            found.append(Finding(
                ENTITLEMENT, entity("user", account), [event],
                en=f"{account} (role {role or 'unknown'}) accessed {res.id}, allowed only to its listed roles/users",
                zh=f"{account}（岗位 {role or '未知'}）访问了未授权的资源 {res.id}",
                dedup=f"{account}|{res.id}", context={**ctx, "role": role},
            ))  # fmt: skip
        if res.classification.rank >= self.config.off_hours_min.rank and not is_working_time(
            event.timestamp, self.index.calendar, user.working_hours if user else None
        ):
            zone = (user.working_hours.zone if user and user.working_hours else None) or self.index.calendar.zone
            when = local_text(event.timestamp, zone)
            day = event.timestamp.astimezone(ZoneInfo(zone)).date()
            found.append(Finding(
                OFF_HOURS, entity("user", account), [event],
                en=f"{account} accessed {label} outside working hours ({when})",
                zh=f"{account} 在非工作时间（{when}）访问了涉密资源 {label}",
                dedup=f"{account}|{res.id}|{day}", context={**ctx, "local_time": when},
            ))  # fmt: skip
        return found

    def _unassigned_ip(self, event: EcsEvent, account: str, user: User | None) -> list[Finding]:
        ip = source_ip(event)
        if user is None or not user.ips or ip is None or not login_started(event):
            return []
        if _in_networks(ip, user.ips):
            return []
        owner = self.index.owner_of_ip(ip)
        theirs = f", assigned to {owner.name}" if owner else ""
        theirs_zh = f"（该地址分配给 {owner.name}）" if owner else ""
        return [Finding(
            UNASSIGNED_IP, entity("user", account), [event],
            en=f"{account} logged on from {ip}, not one of the addresses assigned to them{theirs}",
            zh=f"{account} 从未分配给其本人的地址 {ip} 登录{theirs_zh}",
            dedup=f"{account}|{ip}",
            context={"source_ip": ip, "assigned": ";".join(user.ips), "ip_owner": owner.name if owner else None,
                     "host": host_of(event)},
        )]  # fmt: skip

    def _vendor(self, event: EcsEvent, account: str, res: Resource | None) -> list[Finding]:
        vendor = self.index.vendor(account=account, ip=source_ip(event))
        zone_res = res if res and res.important else None
        if zone_res is None and event.destination and event.destination.ip:
            zone_res = self.index.zone_for_ip(event.destination.ip)
        if vendor is None or zone_res is None or not zone_res.important:
            return []
        tz = ZoneInfo(vendor.zone)
        if any(w.allows(event.timestamp, tz, zone_res.id) for w in vendor.windows):
            return []
        when = local_text(event.timestamp, vendor.zone)
        return [Finding(
            VENDOR, entity("user", account), [event],
            en=f"vendor {vendor.name or vendor.id} ({account}) accessed important zone {zone_res.id} at {when}, "
               "outside its approved windows",
            zh=f"外包方 {vendor.name or vendor.id}（{account}）在审批时段外（{when}）访问重要区域 {zone_res.id}",
            dedup=f"{vendor.id}|{account}|{zone_res.id}",
            context={"vendor": vendor.id, "zone": zone_res.id, "local_time": when, "source_ip": source_ip(event)},
        )]  # fmt: skip


def _path(event: EcsEvent) -> str | None:
    return event.file.path if event.file else None


def _in_networks(ip: str, networks: list[str]) -> bool:
    addr = ipaddress.ip_address(ip)
    return any(addr in ipaddress.ip_network(n) for n in networks if ipaddress.ip_network(n).version == addr.version)
