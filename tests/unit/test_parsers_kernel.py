"""Kernel / udev / udisks messages, with USB and removable-media recognition.

The shared datasets hold no USB mass-storage logs (a known gap, see datasets/README.md), so the plug-in
burst below is GENERATED: written by hand in the exact shape Linux 5.x/6.x kernels and udisks2 log a
SanDisk stick being inserted, mounted and removed. The loghub Linux kernel lines are real.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.models.ecs import EcsEvent
from core.names import Category
from ingest.parsers.base import ParseContext
from ingest.parsers.syslog import parse_syslog
from tests.datasets import lines

CTX = ParseContext(
    source="test", received_at=datetime(2026, 11, 23, 4, 0, tzinfo=UTC), zone=ZoneInfo("Asia/Shanghai")
)

# GENERATED (see module docstring).
_K = "kernel"
_BURST = [
    ("10:15:01", _K, "[ 8123.456789] usb 1-1: new high-speed USB device number 5 using xhci_hcd"),
    (
        "10:15:01",
        _K,
        "[ 8123.612345] usb 1-1: New USB device found, idVendor=0781, idProduct=5567, bcdDevice= 1.00",
    ),
    ("10:15:01", _K, "[ 8123.612350] usb 1-1: New USB device strings: Mfr=1, Product=2, SerialNumber=3"),
    ("10:15:01", _K, "[ 8123.612352] usb 1-1: Product: Cruzer Blade"),
    ("10:15:01", _K, "[ 8123.612354] usb 1-1: Manufacturer: SanDisk"),
    ("10:15:01", _K, "[ 8123.612356] usb 1-1: SerialNumber: 4C530001230823117412"),
    ("10:15:01", _K, "[ 8123.613210] usb-storage 1-1:1.0: USB Mass Storage device detected"),
    ("10:15:01", _K, "[ 8123.613500] scsi host6: usb-storage 1-1:1.0"),
    (
        "10:15:02",
        _K,
        "[ 8124.640120] scsi 6:0:0:0: Direct-Access     SanDisk  Cruzer Blade     1.00 PQ: 0 ANSI: 6",
    ),
    ("10:15:02", _K, "[ 8124.641300] sd 6:0:0:0: [sdb] 30031872 512-byte logical blocks: (15.4 GB/14.3 GiB)"),
    ("10:15:02", _K, "[ 8124.660000]  sdb: sdb1"),
    ("10:15:02", _K, "[ 8124.661000] sd 6:0:0:0: [sdb] Attached SCSI removable disk"),
    ("10:15:03", "udisksd[1021]", "Mounted /dev/sdb1 at /media/alice/CRUZER on behalf of uid 1000"),
    ("10:40:10", "udisksd[1021]", "Unmounted /dev/sdb1 on behalf of uid 1000"),
    ("10:40:11", _K, "[ 9633.101010] usb 1-1: USB disconnect, device number 5"),
]
USB_BURST = [f"Nov 23 {time} ws-042 {program}: {message}" for time, program, message in _BURST]


@pytest.fixture(scope="module")
def burst() -> list[EcsEvent]:
    return [parse_syslog(row, CTX) for row in USB_BURST]


def test_usb_burst_actions(burst: list[EcsEvent]) -> None:
    assert all(e.event.dataset == "system.kernel" and e.vigil.category == Category.SYSTEM for e in burst)
    assert [e.event.action for e in burst] == [
        "usb-device-connected",
        "usb-device-identified",
        None,
        "usb-device-identified",
        "usb-device-identified",
        "usb-device-identified",
        "usb-mass-storage-detected",
        None,
        None,
        None,
        None,
        "removable-storage-attached",
        "removable-storage-mounted",
        "removable-storage-unmounted",
        "usb-device-disconnected",
    ]
    assert burst[0].event.category == ["host", "driver"] and burst[0].event.type == ["start"]
    assert burst[-1].event.type == ["end"]


def test_usb_device_fields(burst: list[EcsEvent]) -> None:
    connected, ids, _, product, maker, serial = burst[:6]
    assert connected.labels == {
        "usb_port": "1-1",
        "usb_speed": "high",
        "usb_device_number": "5",
        "usb_driver": "xhci_hcd",
    }
    assert ids.device and ids.device.model and ids.device.model.identifier == "0781:5567"
    assert product.device and product.device.model and product.device.model.name == "Cruzer Blade"
    assert maker.device and maker.device.manufacturer == "SanDisk"
    assert serial.device and serial.device.id == "4C530001230823117412"
    assert all(e.labels.get("usb_port") == "1-1" for e in burst[:7])  # the key that stitches the burst
    attached = burst[11]
    assert attached.labels == {"scsi_address": "6:0:0:0", "block_device": "sdb"}
    mounted = burst[12]
    assert mounted.file and mounted.file.path == "/media/alice/CRUZER"
    assert mounted.user and mounted.user.id == "1000" and mounted.labels["device_node"] == "/dev/sdb1"
    assert mounted.process and mounted.process.name == "udisksd"
    assert connected.message == "[ 8123.456789] usb 1-1: new high-speed USB device number 5 using xhci_hcd"
    assert connected.timestamp == datetime(2026, 11, 23, 2, 15, 1, tzinfo=UTC)


def test_older_kernel_and_hub_port_shapes() -> None:
    event = parse_syslog(
        "Nov 23 10:00:00 pc kernel: usb 2-1.2: new full-speed USB device number 3 using ehci-pci", CTX
    )
    assert event.event.action == "usb-device-connected" and event.labels["usb_port"] == "2-1.2"
    old = parse_syslog(
        "Nov 23 10:00:00 pc kernel: usb 2-1.2: New USB device found, idVendor=0951, idProduct=1666", CTX
    )
    assert old.device and old.device.model and old.device.model.identifier == "0951:1666"


def test_loghub_linux_kernel_and_udev_lines() -> None:
    rows = [row for row in lines("loghub", "Linux", "Linux_2k.log") if " kernel: " in row or " udev[" in row]
    events = [parse_syslog(row, CTX) for row in rows]
    assert len(events) == 84
    assert all(e.event.dataset == "system.kernel" and e.host and e.host.name == "combo" for e in events)
    udev = [e for e in events if e.process and e.process.name == "udev"]
    assert [e.event.action for e in udev].count("device-node-created") == 4
    assert [e.event.action for e in udev].count("device-node-removed") == 4
    assert {e.file.path for e in udev if e.file} == {"/udev/vcs2", "/udev/vcsa2"}
    usbcore = next(
        e for e, row in zip(events, rows, strict=True) if "usbcore: registered new driver hub" in row
    )
    assert usbcore.event.action is None and usbcore.message == "usbcore: registered new driver hub"


def test_kernel_netfilter_lines_go_to_netfilter() -> None:
    row = lines("samplelogs", "iptables", "ipv6.log")[0]
    assert parse_syslog(row, CTX).event.dataset == "iptables.log"
