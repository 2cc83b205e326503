"""Kernel, udev and udisks messages (dataset system.kernel), with USB / removable-media recognition.

The kernel logs one USB plug-in as a burst of lines (new device, ids, strings, mass storage, SCSI disk);
each line becomes its own event carrying what that line knows, and `labels.usb_port` (`1-1.2`) is the key
a detector uses to stitch the burst together. Packet-filter lines never reach here (see syslog.route_for).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.parsers.syslog import SyslogHeader

Fields = dict[str, Any]

PROGRAMS = ("kernel", "udev", "udevd", "systemd-udevd", "udisksd", "udisks-daemon")

_UPTIME = re.compile(r"\[\s*\d+\.\d+\]\s?")
_USB = r"usb (?P<port>\d+-[\d.]+)"
_SCSI = r"sd (?P<scsi>\d+:\d+:\d+:\d+): \[(?P<disk>sd[a-z]+)\]"
_LABELS = {"port": "usb_port", "speed": "usb_speed", "number": "usb_device_number", "driver": "usb_driver",
           "disk": "block_device", "scsi": "scsi_address"}  # fmt: skip


def kernel_fields(hdr: SyslogHeader) -> Fields | None:
    message = _UPTIME.sub("", hdr.message, count=1)
    for pattern, build in _RULES:
        if m := pattern.search(message):
            return build(m)
    return {"event": {"category": ["host"], "type": ["info"]}}


def _usb(action: str | None, etype: str) -> Callable[[re.Match[str]], Fields]:
    def build(m: re.Match[str]) -> Fields:
        groups = m.groupdict()
        labels = {label: v for key, label in _LABELS.items() if (v := groups.get(key))}
        model = {"identifier": _vid_pid(groups), "name": groups.get("product")}
        return {
            "event": {"category": ["host", "driver"], "type": [etype], "action": action},
            "device": {
                "id": groups.get("serial"),
                "manufacturer": groups.get("manufacturer"),
                "model": model if any(model.values()) else None,
            },
            "labels": labels,
        }

    return build


def _vid_pid(groups: dict[str, str | None]) -> str | None:
    vendor, product = groups.get("vendor"), groups.get("product_id")
    return f"{vendor}:{product}".lower() if vendor and product else None


def _mount(m: re.Match[str]) -> Fields:
    return {
        "event": {"category": ["host", "file"], "type": ["start"], "action": "removable-storage-mounted",
                  "outcome": "success"},  # fmt: skip
        "file": {"path": m["mountpoint"]},
        "user": {"id": m["uid"]} if m["uid"] else None,
        "labels": {"device_node": m["dev"]},
    }


def _udev(action: str) -> Callable[[re.Match[str]], Fields]:
    return lambda m: {
        "event": {"category": ["host", "driver"], "type": ["info"], "action": action},
        "file": {"path": m["path"]},
    }


_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Fields]], ...] = tuple(
    (re.compile(p), b)
    for p, b in (
        (rf"^{_USB}: new (?P<speed>[\w ]+?)-speed USB device(?: number (?P<number>\d+))? "
         r"using (?P<driver>\S+)",
         _usb("usb-device-connected", "start")),
        (rf"^{_USB}: New USB device found, idVendor=(?P<vendor>[0-9a-fA-F]{{4}}), "
         r"idProduct=(?P<product_id>[0-9a-fA-F]{4})",
         _usb("usb-device-identified", "info")),
        (rf"^{_USB}: Product: (?P<product>.+?)\s*$", _usb("usb-device-identified", "info")),
        (rf"^{_USB}: Manufacturer: (?P<manufacturer>.+?)\s*$", _usb("usb-device-identified", "info")),
        (rf"^{_USB}: SerialNumber: (?P<serial>.+?)\s*$", _usb("usb-device-identified", "info")),
        (rf"^{_USB}: USB disconnect, (?:device number|address) (?P<number>\d+)",
         _usb("usb-device-disconnected", "end")),
        (r"^usb-storage (?P<port>\d+-[\d.]+):[\d.]+: USB Mass Storage device detected",
         _usb("usb-mass-storage-detected", "start")),
        (rf"^{_SCSI} Attached SCSI removable disk", _usb("removable-storage-attached", "start")),
        (rf"^{_SCSI} Attached SCSI disk", _usb("storage-attached", "start")),
        (rf"^{_USB}: ", _usb(None, "info")),
        (r"^Mounted (?P<dev>/dev/\S+) at (?P<mountpoint>.+?)(?: on behalf of uid (?P<uid>\d+))?\s*$", _mount),
        (r"^Unmounted (?P<dev>/dev/\S+) on behalf of uid (?P<uid>\d+)",
         lambda m: {"event": {"category": ["host"], "type": ["end"], "action": "removable-storage-unmounted"},
                    "user": {"id": m["uid"]}, "labels": {"device_node": m["dev"]}}),
        (r"creating device node '(?P<path>[^']+)'", _udev("device-node-created")),
        (r"removing device node '(?P<path>[^']+)'", _udev("device-node-removed")),
    )
)  # fmt: skip
