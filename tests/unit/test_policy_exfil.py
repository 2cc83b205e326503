"""Data leaving: mass copying, removable media, mail over 5 MB / mass mail, proxy uploads.

Insider-style bursts, USB sessions and big messages are GENERATED (the shared datasets have none,
see datasets/README.md "Known gaps") in the exact line shapes the parsers read; real lines are used
for the negatives (loghub Proxifier, samplelogs postfix, the real 6416 print-queue event).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from core.models.ecs import EcsEvent
from detectors.policy.mail import LARGE, MASS, MailConfig, MailDetector
from detectors.policy.mass_copy import RULE as MASS_COPY
from detectors.policy.mass_copy import MassCopyConfig, MassCopyDetector
from detectors.policy.removable import RULE as USB_COPY
from detectors.policy.removable import RemovableConfig, RemovableMediaDetector
from detectors.policy.upload import RULE as UPLOAD
from detectors.policy.upload import ProxyUploadDetector, UploadConfig
from detectors.policy.window import BinnedWindow, Cooldown, WindowSpec
from ingest.collectors.windows_files import iter_json_export
from ingest.parsers.windows import parse_windows
from tests.datasets import dataset, lines
from tests.unit.policy_support import CTX, FakeClock, event, feed, parse, restart, rules

COPY = MassCopyConfig(window=timedelta(minutes=10), lateness=timedelta(minutes=5), min_files=100,
                      min_bytes=10**12, min_history=5, z=3.0, factor=3.0)  # fmt: skip


def copier() -> MassCopyDetector:
    return MassCopyDetector(COPY)


def smb_reads(n: int, user: str = "zhangwei", step: float = 0.05) -> list[EcsEvent]:
    def stamp(i: int) -> str:
        return f"Dec  1 10:{int(i * step):02d}:{int((i * step * 60) % 60):02d}"

    return [parse(f"{stamp(i)} fs01 smbd_audit: {user}|10.10.1.21|finance|openat|ok|r|/srv/finance/doc{i}.xlsx")
            for i in range(n)]  # fmt: skip


def reads(n: int, user: str = "zhangwei", start: float = 0.0, step: float = 0.05, tag: str = "") -> list[EcsEvent]:
    return [event(start + i * step, user=user, path=f"/srv/finance/{tag}doc{i}.xlsx", category="file",
                  type="access", action="openat") for i in range(n)]  # fmt: skip


def test_mass_copy_boundary_through_the_samba_parser() -> None:
    assert feed(copier(), smb_reads(99)) == []
    alerts = feed(copier(), smb_reads(100))
    assert rules(alerts) == [MASS_COPY.id] and alerts[0].context["files"] == 100
    assert alerts[0].playbook == "data-leak" and "批量拷贝" in alerts[0].summary.zh


def test_repeated_reads_of_one_file_are_one_file() -> None:
    same = [event(i * 0.01, user="zhangwei", path="/srv/finance/q3.xlsx", category="file", action="pread")
            for i in range(500)]  # fmt: skip
    assert feed(copier(), same) == []


def test_heavy_user_baseline_suppresses_usual_volume_but_not_a_real_spike() -> None:
    det = copier()
    for day in range(6):  # six past windows of ~150 files each: this user's normal
        feed(det, reads(150, start=day * 60, step=0.02, tag=f"d{day}-"))
    det.state.cooldown.last.clear()
    assert feed(det, reads(160, start=400, step=0.02, tag="today-")) == []  # above absolute, not above usual
    assert rules(feed(det, reads(700, start=500, step=0.005, tag="spike-"))) == [MASS_COPY.id]


def test_mass_copy_out_of_order_late_and_restart() -> None:
    det = copier()
    burst = reads(100, start=20)
    feed(det, burst[50:])
    det = restart(det, copier)
    assert rules(feed(det, list(reversed(burst[:50])))) == [MASS_COPY.id]  # earlier events, arriving later
    too_late = reads(5, start=0, tag="late-")
    assert feed(det, too_late) == [] and det.state.late == 5


def test_windows_4663_and_sysmon_11_count_too() -> None:
    evs = [event(i * 0.01, user="CORP\\zhangwei", path=f"C:\\Finance\\f{i}.docx", category="file",
                 action="object-accessed" if i % 2 else "file-created") for i in range(100)]  # fmt: skip
    assert rules(feed(copier(), evs)) == [MASS_COPY.id]


USB = [
    "Dec  1 10:15:01 ws-042 kernel: [ 8123.613210] usb-storage 1-1:1.0: USB Mass Storage device detected",
    "Dec  1 10:15:02 ws-042 kernel: [ 8124.661000] sd 6:0:0:0: [sdb] Attached SCSI removable disk",
    "Dec  1 10:15:03 ws-042 udisksd[1021]: Mounted /dev/sdb1 at /media/alice/CRUZER on behalf of uid 1000",
]


def writes(n: int, prefix: str = "/media/alice/CRUZER", host: str = "ws-042", start: float = 16) -> list:
    return [event(start + i * 0.01, user="alice", host=host, path=f"{prefix}/export/{i}.pdf", category="file",
                  type="creation", action="file-created") for i in range(n)]  # fmt: skip


def usb() -> RemovableMediaDetector:
    return RemovableMediaDetector(RemovableConfig(min_files=50))


def test_usb_mount_then_bulk_writes() -> None:
    det = usb()
    feed(det, (parse(line) for line in USB))
    assert feed(det, writes(49)) == []
    alerts = feed(det, writes(50, start=17))
    assert rules(alerts) == [USB_COPY.id] and alerts[0].context["mounts"] == "/media/alice/cruzer"
    assert feed(det, writes(100, start=18)) == []  # one alert per media session


def test_usb_negatives_no_media_other_path_other_host_after_unplug() -> None:
    assert feed(usb(), writes(100)) == []  # no media session on the host
    det = usb()
    feed(det, (parse(line) for line in USB))
    assert feed(det, writes(100, prefix="/home/alice")) == []
    assert feed(det, writes(100, host="ws-043")) == []
    feed(det, [parse("Dec  1 10:20:00 ws-042 kernel: [ 9633.1] usb 1-1: USB disconnect, device number 5")])
    assert feed(det, writes(100, start=21)) == []


def test_windows_6416_disk_then_sysmon_writes_to_a_drive_letter_and_restart() -> None:
    disk = json.dumps({"winlog": {"channel": "Security", "event_id": "6416", "computer_name": "pc7",
                                  "provider_name": "Microsoft-Windows-Security-Auditing",
                                  "event_data": {"SubjectUserName": "PC7$", "ClassName": "DiskDrive",
                                                 "DeviceDescription": "Kingston DataTraveler 3.0 USB Device"}},
                       "@timestamp": "2026-12-01T02:00:00Z"})  # fmt: skip
    det = usb()
    feed(det, [parse_windows(disk, CTX)])
    det = restart(det, usb)
    alerts = feed(det, writes(50, prefix="E:\\Backup", host="pc7", start=1))
    assert rules(alerts) == [USB_COPY.id] and "Kingston" in alerts[0].summary.en
    # the real 6416 in the datasets is a print queue: it opens no media session
    [(_, raw)] = list(iter_json_export(dataset("samplelogs", "windows_usb", "test-6416.json")))
    real = parse_windows(raw, CTX)
    fresh = usb()
    feed(fresh, [real])
    assert fresh.state.sessions == {}


QMGR = "Dec  1 10:{m:02d}:00 mx1 postfix/qmgr[26374]: {qid}: from=<{sender}>, size={size}, nrcpt={n} (queue active)"


def qmgr(minute: int, size: int, n: int = 1, sender: str = "zhangwei@corp.example", qid: str = "ED36AD08054") -> str:
    return QMGR.format(m=minute, qid=qid, sender=sender, size=size, n=n)


def mail() -> MailDetector:
    return MailDetector(MailConfig(mass_recipients=100, mass_messages=30))


def test_mail_size_limit_boundary() -> None:
    limit = 5 * 1024 * 1024
    assert feed(mail(), [parse(qmgr(0, limit))]) == []
    alerts = feed(mail(), [parse(qmgr(0, limit + 1))])
    assert rules(alerts) == [LARGE.id] and alerts[0].entity.key == "user:zhangwei@corp.example"
    assert "5 MB" in alerts[0].summary.zh


def test_mass_mail_recipients_and_messages() -> None:
    assert feed(mail(), [parse(qmgr(i, 1000, 10, qid=f"A{i:010X}")) for i in range(9)]) == []
    det = mail()
    assert rules(feed(det, [parse(qmgr(i, 1000, 10, qid=f"A{i:010X}")) for i in range(10)])) == [MASS.id]
    det = restart(det, mail)
    assert feed(det, [parse(qmgr(20, 1000, 10, qid="B000000001"))]) == []  # suppressed after restart
    assert rules(feed(mail(), [parse(qmgr(i % 60, 500, 1, qid=f"C{i:010X}")) for i in range(30)])) == [MASS.id]


def test_real_postfix_sample_is_quiet() -> None:
    events = [parse(line) for line in lines("samplelogs", "postfix", "postfix.log")]
    assert feed(mail(), events) == []


def proxifier_close(sent: int, minute: int = 0) -> str:
    return (f"[12.01 10:{minute:02d}:00] chrome.exe - drive.example.com:443 close, {sent} bytes sent, "
            "1024 bytes received, lifetime 01:10")  # fmt: skip


def test_proxy_upload_single_and_window_thresholds() -> None:
    cfg = UploadConfig(single_bytes=100 * 1024**2, window_bytes=300 * 1024**2)
    mb = 1024**2
    assert feed(ProxyUploadDetector(cfg), [parse(proxifier_close(100 * mb - 1))]) == []
    alerts = feed(ProxyUploadDetector(cfg), [parse(proxifier_close(100 * mb))])
    assert rules(alerts) == [UPLOAD.id] and alerts[0].context["destination"] == "drive.example.com"
    det = ProxyUploadDetector(cfg)
    assert feed(det, [parse(proxifier_close(99 * mb, m)) for m in range(3)]) == []
    det = restart(det, lambda: ProxyUploadDetector(cfg))
    assert rules(feed(det, [parse(proxifier_close(4 * mb, 5))])) == [UPLOAD.id]
    det.on_tick(FakeClock().advance(hours=3))
    assert det.state.windows == {}


def test_binned_window_holds_the_sum_of_what_it_keeps() -> None:
    """The O(1) bound the upload detector checks first: the sum of the kept bins, through expiry,
    out-of-order and too-late items, and a snapshot round trip."""
    spec = WindowSpec(timedelta(hours=1), timedelta(minutes=10))
    window, t0 = BinnedWindow(), FakeClock().now
    for minute, value in [(0, 5.0), (30, 7.0), (20, 1.0), (65, 2.0), (75, 4.0), (0, 9.0), (200, 3.0), (140, 8.0)]:
        window.add(t0 + timedelta(minutes=minute), spec, value)
        assert window.held_total == sum(b.total for b in window.bins)
    assert [b.total for b in window.bins] == [8.0, 3.0]  # 0..75 expired, the second minute 0 was too late
    restored = BinnedWindow.model_validate(json.loads(window.model_dump_json()))
    assert restored.held_total == 11.0 and restored.held_count == 2
    assert window.around(t0 + timedelta(minutes=200), spec).total == 3.0  # a span total stays ≤ the bound


def test_binned_window_holds_the_distinct_keys_it_keeps() -> None:
    """The O(1) bound mass copy checks first: distinct keys of the kept bins, through repeats, expiry,
    too-late items and a snapshot round trip; never below the distinct count of a span."""
    spec = WindowSpec(timedelta(minutes=10), timedelta(minutes=5))
    window, t0 = BinnedWindow(), FakeClock().now
    for minute, key in [(0, "a"), (1, "b"), (2, "a"), (9, "c"), (14, "b"), (16, "d"), (0, "e"), (30, "a")]:
        window.add(t0 + timedelta(minutes=minute), spec, 1.0, key=key)
        assert window.held_keys == len(set().union(*(b.keys for b in window.bins)))
        assert window.held_keys >= len(window.around(t0 + timedelta(minutes=minute), spec).keys())
    assert [b.keys for b in window.bins] == [{"d"}, {"a"}]  # before 15 expired at minute 30; the second 0 too late
    window.add(t0 + timedelta(minutes=31), spec, key="f")
    restored = BinnedWindow.model_validate(json.loads(window.model_dump_json()))
    assert restored.held_keys == 3 and restored.held_total == 3.0


def test_cooldown_blocked_says_what_ready_would_without_remembering() -> None:
    cooldown, t0, hour = Cooldown(), FakeClock().now, timedelta(hours=1)
    assert not cooldown.blocked("k", t0, hour) and cooldown.last == {}
    assert cooldown.ready("k", t0, hour)
    for minutes, blocked in [(59, True), (-59, True), (60, False), (-60, False)]:
        at = t0 + timedelta(minutes=minutes)
        assert cooldown.blocked("k", at, hour) is blocked and cooldown.last == {"k": t0}
        assert Cooldown(last={"k": t0}).ready("k", at, hour) is not blocked


def test_mass_copy_alerts_again_once_the_suppression_ended() -> None:
    det = copier()
    assert rules(feed(det, reads(100, start=0, step=0.01, tag="a-"))) == [MASS_COPY.id]
    assert feed(det, reads(300, start=30, step=0.01, tag="b-")) == []  # within the hour: suppressed
    assert rules(feed(det, reads(100, start=61, step=0.01, tag="c-"))) == [MASS_COPY.id]


def test_loghub_proxifier_is_quiet() -> None:
    events = [parse(line) for line in lines("loghub", "Proxifier", "Proxifier_2k.log")]
    assert feed(ProxyUploadDetector(), events) == []


def test_usb_writes_out_of_order_and_too_late() -> None:
    det = usb()
    feed(det, (parse(line) for line in USB))
    burst = writes(50, start=30)
    assert rules(feed(det, [*burst[25:], *reversed(burst[:25])])) == [USB_COPY.id]
    fresh = usb()
    feed(fresh, (parse(line) for line in USB))
    feed(fresh, writes(1, start=60))
    assert feed(fresh, writes(60, start=20)) == [] and fresh.state.late == 60  # 40 min older than the newest


def test_mass_mail_out_of_order() -> None:
    det = mail()
    msgs = [parse(qmgr(i, 1000, 10, qid=f"D{i:010X}")) for i in range(10)]
    assert feed(det, msgs[5:]) == []
    assert rules(feed(det, list(reversed(msgs[:5])))) == [MASS.id]


def test_proxy_upload_out_of_order() -> None:
    cfg = UploadConfig(single_bytes=100 * 1024**2, window_bytes=300 * 1024**2)
    det = ProxyUploadDetector(cfg)
    parts = [parse(proxifier_close(80 * 1024**2, m)) for m in range(4)]
    assert feed(det, [parts[3], parts[2], parts[1]]) == []
    assert rules(feed(det, [parts[0]])) == [UPLOAD.id]


def test_real_smb_share_access_burst_mdecrevoisier() -> None:
    """960 real 5145 records of one WMIexec session over SMB: a mass read by default thresholds."""
    path = dataset("attack", "mdecrevoisier", "TA0002-Execution", "T1047-Windows Management Instrumentation",
                   "ID4688-5145-WMIexec execution via SMB.jsonl")  # fmt: skip
    events = [parse_windows(line, CTX) for line in path.read_text().splitlines() if line.strip()]
    alerts = feed(MassCopyDetector(), events)
    assert rules(alerts) == [MASS_COPY.id] and alerts[0].context["files"] >= 200


# --- bounded windows: 1-s bins ------------------------------------------------------------------


def upload(at: datetime, sent: int, user: str = "alice", eid: str | None = None) -> EcsEvent:
    """A Proxifier-style close at an exact time (the parser's lines carry whole minutes only)."""
    ids = {"event__id": eid} if eid else {}
    return event(at, user=user, event__dataset="proxifier.log", source__bytes=sent, **ids)


MB = 1024**2
WINDOWED = UploadConfig(single_bytes=10**12, window_bytes=300 * MB)


def test_proxy_upload_window_edges_at_one_second() -> None:
    """The span ends at the event: an upload exactly one window earlier is out, one second later is in;
    two uploads within the same second are one bin but both count."""
    t0 = FakeClock().now
    edge = [upload(t0, 150 * MB), upload(t0 + timedelta(hours=1), 150 * MB)]
    assert feed(ProxyUploadDetector(WINDOWED), edge) == []
    inside = [upload(t0 + timedelta(seconds=1), 150 * MB), upload(t0 + timedelta(hours=1), 150 * MB)]
    assert rules(feed(ProxyUploadDetector(WINDOWED), inside)) == [UPLOAD.id]
    det = ProxyUploadDetector(WINDOWED)
    same = [upload(t0 + timedelta(milliseconds=ms), 100 * MB, eid=f"s{ms}") for ms in (0, 300, 999)]
    [alert] = feed(det, same)
    assert alert.context["bytes"] == 300 * MB and alert.event_ids == ["s0", "s300", "s999"]
    assert len(det.state.windows["user:alice"].bins) == 1


def test_proxy_upload_alert_counts_every_event_of_its_span_beyond_the_listed_ids() -> None:
    """500 uploads of 1 MB reach 300 MB at the 300th: the alert stands for 300 events and lists 200 ids."""
    t0, det = FakeClock().now, ProxyUploadDetector(WINDOWED)
    alerts = feed(det, [upload(t0 + timedelta(seconds=i), MB, eid=f"u{i}") for i in range(500)])
    [alert] = alerts  # the rest of the burst is suppressed
    assert alert.event_count == 300 and len(alert.event_ids) == 200 and alert.event_ids[-1] == "u299"


def test_proxy_upload_lateness_boundary_and_out_of_order_completion() -> None:
    """Lateness is judged on bins: a bin 70 min (window + lateness) before the newest's is kept and an
    older one is late, counted and never binned; a kept out-of-order upload completes the span after it."""
    t0, det = FakeClock().now, ProxyUploadDetector(WINDOWED)
    feed(det, [upload(t0 + timedelta(minutes=70, seconds=0.5), 250 * MB)])
    assert feed(det, [upload(t0 - timedelta(seconds=0.1), 50 * MB)]) == [] and det.state.late == 1
    assert feed(det, [upload(t0 + timedelta(seconds=0.9), 10 * MB)]) == [] and det.state.late == 1  # edge bin: kept
    assert rules(feed(det, [upload(t0 + timedelta(minutes=69, seconds=59), 50 * MB)])) == [UPLOAD.id]
    assert det.state.late == 1 and det.state.windows["user:alice"].held_count == 3


def test_proxy_upload_restart_mid_window_and_old_per_event_checkpoint() -> None:
    """A snapshot in the per-event format (one item per connection, before the bins) restores as bins
    holding the same bytes, and the window it held still completes an alert."""
    t0, cfg = FakeClock().now, WINDOWED
    old = {"windows": {"user:alice": {"newest": (t0 + timedelta(minutes=2)).isoformat(), "items": [
        {"ts": (t0 + timedelta(minutes=m, seconds=0.25 * k)).isoformat(), "value": 50 * MB, "key": "",
         "event_id": f"old{m}-{k}"} for m in range(3) for k in range(2)]}},
        "cooldown": {"last": {}}, "late": 0}  # fmt: skip
    det = ProxyUploadDetector(cfg)
    det.restore(json.loads(json.dumps(old)))
    window = det.state.windows["user:alice"]
    assert window.held_total == 300 * MB and window.held_count == 6 and len(window.bins) == 3
    assert window.bins[-1].ids == ["old2-0", "old2-1"]
    det = restart(det, lambda: ProxyUploadDetector(cfg))  # and once more through the binned format
    [alert] = feed(det, [upload(t0 + timedelta(minutes=3), 1, eid="new")])
    assert alert.event_ids == [*(f"old{m}-{k}" for m in range(3) for k in range(2)), "new"]


def test_proxy_upload_state_is_bounded_by_time_not_by_events() -> None:
    """100,000 small uploads from one user within 10 minutes keep one bin per second (the per-event
    window kept 100,000 items), its peak's id each and 200 more, and the alert lists the largest and the
    latest ones."""
    t0, det = FakeClock().now, ProxyUploadDetector(UploadConfig(single_bytes=10**12, window_bytes=2 * 10**9))
    base = upload(t0, 1)
    alerts = []
    for i in range(100_000):
        at = t0 + timedelta(seconds=i * 0.006)  # 600 s
        sent = base.source.model_copy(update={"bytes": 5 * MB if i == 7 else 20_000}) if base.source else None
        ev = base.model_copy(update={"timestamp": at, "event": base.event.model_copy(update={"id": f"u{i}"}),
                                     "source": sent})  # fmt: skip
        alerts += det.on_event(ev, [])
    window = det.state.windows["user:alice"]
    assert len(window.bins) <= 601 and window.held_count == 100_000
    assert sum(len(b.ids) for b in window.bins) == len(window.bins) + 200
    assert window.held_total == 5 * MB + 99_999 * 20_000
    [alert] = alerts  # 2 GB reached near the end: one alert
    assert rules(alerts) == [UPLOAD.id] and len(alert.event_ids) == 200
    last = int(alert.event_ids[-1][1:])
    assert "u7" in alert.event_ids and alert.event_ids[-100:] == [f"u{i}" for i in range(last - 99, last + 1)]
    assert len(det.snapshot().model_dump_json()) < 200_000  # the per-event window: ~9 MB


def test_binned_span_event_ids_all_while_covered_else_largest_and_latest() -> None:
    spec = WindowSpec(timedelta(minutes=10), timedelta(minutes=5))
    window, t0 = BinnedWindow(), FakeClock().now
    for i in reversed(range(150)):  # out of order: ids come back in time order (of bins, then of arrival)
        window.add(t0 + timedelta(seconds=i * 0.5), spec, 1.0, f"e{i}")
    assert window.around(t0, spec).event_ids() == [f"e{i + 1 - 2 * (i % 2)}" for i in range(150)]
    for i in range(150, 1000):
        window.add(t0 + timedelta(seconds=i * 0.5), spec, 9.0 if i == 400 else 1.0, f"e{i}")
    ids = window.span(t0 + timedelta(seconds=499.5), spec).event_ids()
    # the peaks of 100 bins ("e400" the largest, then equal ones: the earliest bins), then the latest 100
    assert len(ids) == 200 and ids[-100:] == [f"e{i}" for i in range(900, 1000)] and "e400" in ids[:100]
    assert len(set(ids)) == 200 and ids[:100] == sorted(ids[:100], key=lambda i: int(i[1:]))  # in time order


def test_mass_copy_repeated_reads_of_one_file_keep_one_key_per_bin() -> None:
    """Samba logs one pread per block: 10,000 reads of one file in 10 s are ~10 bins of one key, one file."""
    det = copier()
    feed(det, [event(i / 60_000, user="zhangwei", path="/srv/finance/q3.xlsx", category="file", action="pread")
               for i in range(10_000)])  # fmt: skip
    user = det.state.users["zhangwei"]
    assert len(user.window.bins) <= 11 and user.window.held_keys == 1 and user.window.held_count == 10_000


def test_mass_copy_restores_an_old_per_event_checkpoint_with_its_files() -> None:
    """The keyed per-event window (`CountedWindow`, one item per read) restores as bins of distinct files:
    the reads already in the window still count towards the threshold after the upgrade."""
    det = copier()
    burst = reads(100, start=20)
    items = [{"ts": e.timestamp.isoformat(), "value": 0.0, "key": e.file.path.lower() if e.file else "",
              "event_id": e.event.id} for e in burst[:60]]  # fmt: skip
    det.restore({"users": {"zhangwei": {"window": {"items": items, "newest": items[-1]["ts"]}}}, "late": 0})
    assert det.state.users["zhangwei"].window.held_keys == 60
    alerts = feed(det, burst[60:])
    assert rules(alerts) == [MASS_COPY.id] and alerts[0].context["files"] == 100
    assert alerts[0].event_ids == [e.event.id for e in burst]
