"""Unauthorized access: clearance, entitlements, departed/transferred staff, off-hours, unassigned IP, vendors.

Samba full_audit lines below are GENERATED in the syslog-wrapped shape Samba 4 writes (the shared
datasets hold only the 4 example lines of vfs_full_audit.c, all for user `nobody`), and go through
the real parsers, so the RFC 3164 time is read in Asia/Shanghai as a collector would.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.models.entity import Resource
from detectors.inventory import EntityIndex, load_inventory
from detectors.policy.access import (
    CLEARANCE,
    DEPARTED,
    ENTITLEMENT,
    OFF_HOURS,
    UNASSIGNED_IP,
    VENDOR,
    AccessConfig,
    UnauthorizedAccessDetector,
)
from tests.unit.policy_support import (
    SAMPLE_INVENTORY,
    SHANGHAI,
    T0,
    event,
    feed,
    login,
    parse,
    restart,
    rules,
    sample_index,
)


def detector(index: EntityIndex | None = None) -> UnauthorizedAccessDetector:
    return UnauthorizedAccessDetector(index or sample_index(), AccessConfig())


def smb(when: str, user: str, ip: str, share: str, op: str, path: str, status: str = "ok") -> str:
    return f"{when} fs01 smbd_audit: {user}|{ip}|{share}|{op}|{status}|r|{path}"


def test_clearance_above_the_user() -> None:
    alerts = feed(detector(), [parse(smb("Dec  1 10:00:00", "lina", "10.10.2.32", "finance", "openat",
                                         "/srv/finance/payroll/2026-11.xlsx"))])  # fmt: skip
    assert rules(alerts) == [CLEARANCE.id]
    alert = alerts[0]
    assert alert.entity.key == "user:lina" and alert.playbook == "unauthorized-access"
    assert alert.context["resource"] == "finance-payroll" and alert.context["classification"] == "secret"
    assert "secret" in alert.summary.en and "绝密" in alert.summary.zh and "attack.t1039" in alert.tags


def test_entitlement_and_the_negatives() -> None:
    det = detector()
    own = parse(smb("Dec  1 10:00:00", "zhangwei", "10.10.1.21", "finance", "openat", "/srv/finance/q3.xlsx"))
    other = parse(smb("Dec  1 10:01:00", "lina", "10.10.2.32", "finance", "openat", "/srv/finance/q3.xlsx"))
    public = parse(smb("Dec  1 10:02:00", "lina", "10.10.2.32", "public", "openat", "/srv/public/menu.pdf"))
    failed = parse(smb("Dec  1 10:03:00", "liuyang", "10.10.9.10", "hr", "openat", "/srv/hr/x.doc",
                       status="fail (Permission denied)"))  # fmt: skip
    assert rules(feed(det, [own])) == []
    assert rules(feed(det, [other])) == [ENTITLEMENT.id]
    assert rules(feed(det, [public, failed])) == []  # public data; a refused access is not an access


def test_burst_raises_one_alert_and_survives_restart() -> None:
    det = detector()
    reads = [event(m / 10, user="lina", path=f"/srv/finance/f{m}.xlsx", category="file", type="access",
                   action="openat") for m in range(50)]  # fmt: skip
    assert rules(feed(det, reads[:20])) == [ENTITLEMENT.id]
    det = restart(det, detector)
    assert feed(det, reads[20:]) == []
    later = event(61, user="lina", path="/srv/finance/late.xlsx", category="file", type="access")
    assert rules(feed(det, [later])) == [ENTITLEMENT.id]  # suppression (1 h) is over


def _at(local: str) -> datetime:
    return datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI)


def test_departed_account_boundary_is_three_days_in_shanghai() -> None:
    det = detector()  # chenjie departed 2026-11-20
    assert feed(det, [login(_at("2026-11-23 23:59"), "chenjie", host="ws-sales-9")]) == []
    alerts = feed(det, [login(_at("2026-11-24 00:00"), "chenjie", host="ws-sales-9")])
    assert rules(alerts) == [DEPARTED.id] and alerts[0].playbook == "departed-access"
    assert alerts[0].context["days"] == 4 and "离职" in alerts[0].summary.zh
    # 16:30 UTC on the 23rd is already the 24th in Shanghai
    fresh = detector()
    assert rules(feed(fresh, [login(datetime.fromisoformat("2026-11-23T16:30:00+00:00"), "chenjie")])) == [DEPARTED.id]


def test_transferred_user_keeps_new_job_loses_old_access() -> None:
    det = detector()  # zhaolei: accountant → sales on 2026-11-02
    old = event(0, user="zhaolei", path="/srv/finance/q3.xlsx", category="file", type="access")
    new = event(1, user="zhaolei", path="/srv/public/price-list.xlsx", category="file", type="access")
    alerts = feed(det, [old, new])
    assert DEPARTED.id in rules(alerts) and "调岗" in alerts[rules(alerts).index(DEPARTED.id)].summary.zh
    assert all(a.context.get("resource") != "public-share" for a in alerts)


def test_off_hours_weekday_night_holiday_and_makeup_day() -> None:
    def read(ts: datetime) -> list[str]:
        return rules(feed(detector(), [event(ts, user="zhangwei", path="/srv/finance/q3.xlsx", category="file",
                                             type="access")]))  # fmt: skip

    assert read(_at("2026-12-01 10:00")) == []
    assert read(_at("2026-12-01 12:30")) == [OFF_HOURS.id]  # lunch break: hours are 09-12, 13:30-18
    assert read(_at("2026-12-01 22:00")) == [OFF_HOURS.id]
    assert read(_at("2026-10-01 10:00")) == [OFF_HOURS.id]  # National Day
    assert read(_at("2026-10-10 10:00")) == []  # Saturday make-up working day
    assert read(_at("2026-10-11 10:00")) == [OFF_HOURS.id]  # Sunday


def test_night_shift_across_midnight() -> None:
    inv = load_inventory(SAMPLE_INVENTORY)
    ops = Resource(id="ops-runbooks", kind="path", classification="internal", allowed_roles=["operator"],
                   paths=["/srv/ops"])  # fmt: skip
    index = EntityIndex.build(inv.model_copy(update={"resources": [*inv.resources, ops]}))

    def read(local: str) -> list[str]:
        ev = event(_at(local), user="wangfang", path="/srv/ops/runbook.md", category="file", type="access")
        return rules(feed(detector(index), [ev]))

    assert read("2026-12-05 23:30") == []  # Saturday night shift (days mon-sat)
    assert read("2026-12-06 05:59") == []  # ... into Sunday morning
    assert read("2026-12-06 06:00") == [OFF_HOURS.id]
    assert read("2026-12-06 23:30") == [OFF_HOURS.id]  # no shift starts on Sunday
    assert read("2026-12-01 10:00") == [OFF_HOURS.id]  # a day worker's hours are her night


def test_login_from_unassigned_ip() -> None:
    det = detector()
    assert feed(det, [login(0, "zhangwei", "10.10.1.21"), login(1, "wangfang", "10.10.3.14")]) == []
    alerts = feed(det, [login(2, "zhangwei", "10.10.2.32")])
    assert rules(alerts) == [UNASSIGNED_IP.id] and alerts[0].context["ip_owner"] == "lina"
    # real sshd line: Accepted password from an address not assigned to liuyang
    line = "Dec  1 10:05:00 app02 sshd[4242]: Accepted password for liuyang from 10.10.1.21 port 50522 ssh2"
    assert rules(feed(det, [parse(line)])) == [UNASSIGNED_IP.id]


def test_vendor_outside_its_window() -> None:
    def go(ts: datetime, user: str = "acme-ops", ip: str = "203.0.113.5", host: str = "db01") -> list[str]:
        return rules(feed(detector(), [login(ts, user, ip, host=host)]))

    assert go(_at("2026-12-01 10:00")) == []  # Tuesday inside 09-17
    assert go(_at("2026-12-01 17:00")) == [VENDOR.id]  # end is exclusive
    assert go(_at("2026-12-05 10:00")) == [VENDOR.id]  # Saturday
    assert go(_at("2027-01-04 10:00")) == [VENDOR.id]  # contract window over
    assert go(_at("2026-12-01 20:00"), user="unknown", ip="203.0.113.9", host="app01") == [VENDOR.id]
    assert go(_at("2026-12-01 20:00"), host="ws-hr-02") == []  # not an important zone


def test_out_of_order_events_are_judged_on_their_own_time() -> None:
    det = detector()
    late = event(_at("2026-11-30 23:00"), user="zhangwei", path="/srv/finance/a.xlsx", category="file")
    now = event(_at("2026-12-01 10:00"), user="zhangwei", path="/srv/finance/b.xlsx", category="file")
    assert rules(feed(det, [now, late])) == [OFF_HOURS.id]
    assert T0 - timedelta(hours=11) == late.timestamp


def test_one_access_breaking_two_rules_raises_both() -> None:
    # chenjie left on 2026-11-20 and never had the clearance for the payroll (secret)
    ev = event(0, user="chenjie", path="/srv/finance/payroll/2026-11.xlsx", category="file", type="access")
    assert sorted(rules(feed(detector(), [ev]))) == sorted([DEPARTED.id, CLEARANCE.id])


def test_tick_expires_the_suppression_memory() -> None:
    det = detector()
    feed(det, [event(0, user="lina", path="/srv/finance/q3.xlsx", category="file")])
    assert det.state.cooldown.last
    det.on_tick(T0 + timedelta(hours=2))
    assert det.state.cooldown.last == {}
