"""Log-source routing: which events a rule sees.

A rule's `logsource` becomes a set of *route keys*; an event yields the route keys of the sources it
belongs to (see `view.py`). A rule is evaluated on an event only when they share a key, so a Sysmon
EID 1 event meets the ~1,400 process_creation rules and none of the 200 registry rules.

Route keys:
- ``win:<channel>`` every event of a Windows channel (lower case), ``win:*`` every Windows event;
- ``wincat:<category>`` Windows generic categories (Sysmon event ids, Security 4688, PowerShell 4103/4104...);
- ``linux:*``, ``linux:svc:<service>``, ``linux:cat:<category>``;
- ``cat:<category>`` product-less categories (proxy, webserver, dns, firewall, antivirus);
- ``svc:<service>`` product-less services (apache, nginx); ``cisco:*`` Cisco IOS syslog.

The Windows tables follow SigmaHQ's own log-source mapping (pySigma's `windows_logsource_mapping`,
SigmaHQ `tests/thor.yml`, the windows-audit pipeline for Security 4688).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sigma.pipelines.common import windows_logsource_mapping

from detectors.sigma.loader import LogSource

SYSMON = "microsoft-windows-sysmon/operational"
LINUX_SYSMON = "linux-sysmon/operational"
SECURITY = "security"
PS_OPERATIONAL = ("microsoft-windows-powershell/operational", "powershellcore/operational")
PS_CLASSIC = "windows powershell"
DEFENDER = "microsoft-windows-windows defender/operational"

# Windows generic categories: (channel, event id) pairs that carry them.
WINDOWS_CATEGORIES: dict[str, tuple[tuple[str, str], ...]] = {
    "process_creation": ((SYSMON, "1"), (SECURITY, "4688")),
    "file_change": ((SYSMON, "2"),),
    "network_connection": ((SYSMON, "3"),),
    "sysmon_status": ((SYSMON, "4"), (SYSMON, "16")),
    "process_termination": ((SYSMON, "5"),),
    "driver_load": ((SYSMON, "6"),),
    "image_load": ((SYSMON, "7"),),
    "create_remote_thread": ((SYSMON, "8"),),
    "raw_access_thread": ((SYSMON, "9"),),
    "process_access": ((SYSMON, "10"),),
    "file_event": ((SYSMON, "11"),),
    "registry_add": ((SYSMON, "12"),),
    "registry_delete": ((SYSMON, "12"),),
    "registry_set": ((SYSMON, "13"),),
    "registry_rename": ((SYSMON, "14"),),
    "registry_event": ((SYSMON, "12"), (SYSMON, "13"), (SYSMON, "14")),
    "create_stream_hash": ((SYSMON, "15"),),
    "pipe_created": ((SYSMON, "17"), (SYSMON, "18")),
    "wmi_event": ((SYSMON, "19"), (SYSMON, "20"), (SYSMON, "21")),
    "dns_query": ((SYSMON, "22"),),
    "file_delete": ((SYSMON, "23"), (SYSMON, "26")),
    "clipboard_capture": ((SYSMON, "24"),),
    "process_tampering": ((SYSMON, "25"),),
    "file_delete_detected": ((SYSMON, "26"),),
    "file_block_executable": ((SYSMON, "27"),),
    "file_block_shredding": ((SYSMON, "28"),),
    "file_executable_detected": ((SYSMON, "29"),),
    "sysmon_error": ((SYSMON, "255"),),
    "ps_module": tuple((c, "4103") for c in PS_OPERATIONAL),
    "ps_script": tuple((c, "4104") for c in PS_OPERATIONAL),
    "ps_classic_start": ((PS_CLASSIC, "400"),),
    "ps_classic_provider_start": ((PS_CLASSIC, "600"),),
    "ps_classic_script": ((PS_CLASSIC, "800"),),
}
# Defender detections that carry a threat name or path (SigmaHQ thor.yml `windows-defender-antivirus-mapping`).
DEFENDER_DETECTIONS = ("1006", "1007", "1008", "1009", "1010", "1011", "1012", "1017", "1018", "1019",
                       "1115", "1116")  # fmt: skip
# Sysmon for Linux writes the Sysmon schema to its own channel; Sigma's linux categories use those names.
LINUX_SYSMON_CATEGORIES: dict[str, str] = {
    "1": "process_creation", "3": "network_connection", "5": "process_termination", "11": "file_event",
    "23": "file_delete", "9": "raw_access_read",
}  # fmt: skip

# Windows services → channels: pySigma's table plus the SigmaHQ services it lacks.
WINDOWS_SERVICES: dict[str, tuple[str, ...]] = {
    **{
        service: tuple(c.lower() for c in ([channels] if isinstance(channels, str) else channels))
        for service, channels in windows_logsource_mapping.items()
    },
    "ldap": ("microsoft-windows-ldap-client/debug",),
    "iis-configuration": ("microsoft-iis-configuration/operational",),
    "smbclient-connectivity": ("microsoft-windows-smbclient/connectivity",),
    "smbserver-connectivity": ("microsoft-windows-smbserver/connectivity",),
    "microsoft-servicebus-client": (
        "microsoft-servicebus-client", "microsoft-servicebus-client/admin", "microsoft-servicebus-client/operational",
    ),
    "kernel-shimengine": ("microsoft-windows-kernel-shimengine/operational",
                          "microsoft-windows-kernel-shimengine/diagnostic"),
    "application-experience": ("microsoft-windows-application-experience/program-telemetry",
                               "microsoft-windows-application-experience/program-compatibility-assistant"),
    "ntfs": ("microsoft-windows-ntfs/operational",),
    "hyper-v-worker": ("microsoft-windows-hyper-v-worker",),
    "kernel-event-tracing": ("microsoft-windows-kernel-eventtracing",),
    "sense": ("microsoft-windows-sense/operational",),
    # Vigil's own rules (detectors/rules/vigil): the two Remote Desktop logs the Windows parser reads.
    "terminalservices-remoteconnectionmanager": (
        "microsoft-windows-terminalservices-remoteconnectionmanager/operational",
    ),
    "rdpcorets": ("microsoft-windows-remotedesktopservices-rdpcorets/operational",),
}  # fmt: skip

# Linux: services by syslog program name; the service `syslog` covers every syslog-framed line.
LINUX_PROGRAM_SERVICES: dict[str, str] = {
    "sshd": "sshd", "sudo": "sudo", "cron": "cron", "crond": "cron", "vsftpd": "vsftpd", "clamd": "clamav",
    "freshclam": "clamav", "clamav": "clamav", "guacd": "guacamole", "guacamole": "guacamole",
}  # fmt: skip
LINUX_SERVICES = frozenset({"auth", "auditd", "syslog", *LINUX_PROGRAM_SERVICES.values()})
LINUX_CATEGORIES = frozenset({"process_creation", "file_event", "network_connection", "process_termination",
                              "file_delete", "raw_access_read"})  # fmt: skip
GENERIC_CATEGORIES = frozenset({"proxy", "webserver", "dns", "firewall", "antivirus"})
GENERIC_SERVICES = frozenset({"apache", "nginx"})
CISCO_SERVICES = frozenset({"aaa", "syslog", "bgp", "ldp"})

# Event datasets (event.dataset, set by Vigil's parsers) → route keys.
DATASET_ROUTES: dict[str, tuple[str, ...]] = {
    "apache.access": ("cat:webserver", "svc:apache"),
    "nginx.access": ("cat:webserver", "svc:nginx"),
    "apache.error": ("svc:apache",),
    "nginx.error": ("svc:nginx",),
    "squid.access": ("cat:proxy",),
    "proxifier.log": ("cat:proxy",),
    "dns.query": ("cat:dns",),
    "iptables.log": ("cat:firewall",),
    "firewall.log": ("cat:firewall",),
    "auditd.log": ("linux:*", "linux:svc:auditd"),
    "system.auth": ("linux:*", "linux:svc:auth"),
    "system.kernel": ("linux:*",),
}


@dataclass(frozen=True, slots=True)
class Route:
    """Where a rule listens, or why it cannot listen anywhere."""

    keys: tuple[str, ...] = ()
    unsupported: str | None = None


def route_rule(ls: LogSource) -> Route:
    """The route keys of a rule's log source, or the reason no Vigil event can ever reach it."""
    product, category, service = ls.product, ls.category, ls.service
    if product == "windows":
        return _windows(category, service)
    if product == "linux":
        return _linux(category, service)
    if product is None:
        if category in GENERIC_CATEGORIES and service is None:
            return Route((f"cat:{category}",))
        if service in GENERIC_SERVICES and category is None:
            return Route((f"svc:{service}",))
        return _no_source(ls, "no Vigil parser produces this product-less log source")
    if product == "cisco" and category is None and service in CISCO_SERVICES:
        return Route(("cisco:*",))
    if product == "rpc_firewall" and category == "application":
        return Route(("win:rpcfw",))  # RPC Firewall writes its own event log channel `RPCFW`
    return _no_source(ls, f"no Vigil parser produces events of product '{product}'")


def _windows(category: str | None, service: str | None) -> Route:
    if category is not None:
        if category == "antivirus":
            return Route(("cat:antivirus",))
        if category in WINDOWS_CATEGORIES:
            return Route((f"wincat:{category}",))
        return _no_source(
            LogSource("windows", category, service),
            "no Windows event log channel carries this category (ETW-only source)",
        )
    if service is not None:
        channels = WINDOWS_SERVICES.get(service)
        if channels is None:
            return _no_source(LogSource("windows", None, service), "no known event log channel for this service")
        return Route(tuple(f"win:{c}" for c in channels))
    return Route(("win:*",))


def _linux(category: str | None, service: str | None) -> Route:
    if category is not None:
        if category in LINUX_CATEGORIES and service is None:
            return Route((f"linux:cat:{category}",))
        return _no_source(LogSource("linux", category, service), "no Vigil parser produces this Linux category")
    if service is not None:
        if service in LINUX_SERVICES:
            return Route((f"linux:svc:{service}",))
        return _no_source(LogSource("linux", None, service), "no Vigil parser produces this Linux service")
    return Route(("linux:*",))


def _no_source(ls: LogSource, why: str) -> Route:
    return Route(unsupported=f"{ls}: {why}")


def windows_event_routes(channel: str, event_id: str) -> tuple[str, ...]:
    """Route keys of one Windows event (channel lower case, event id as text)."""
    if channel == LINUX_SYSMON:
        category = LINUX_SYSMON_CATEGORIES.get(event_id)
        return ("linux:*", f"linux:cat:{category}") if category else ("linux:*",)
    return _WINDOWS_EVENT_ROUTES.get((channel, event_id)) or _channel_routes(channel)


@lru_cache(maxsize=4096)  # channels come from the events: bounded
def _channel_routes(channel: str) -> tuple[str, ...]:
    """The route keys of a channel's events outside any category (one tuple per channel, not per event)."""
    return ("win:*", f"win:{channel}")


def _windows_event_routes() -> dict[tuple[str, str], tuple[str, ...]]:
    out: dict[tuple[str, str], list[str]] = {}
    for category, pairs in WINDOWS_CATEGORIES.items():
        for pair in pairs:
            out.setdefault(pair, ["win:*", f"win:{pair[0]}"]).append(f"wincat:{category}")
    for event_id in DEFENDER_DETECTIONS:
        out.setdefault((DEFENDER, event_id), ["win:*", f"win:{DEFENDER}"]).append("cat:antivirus")
    return {pair: tuple(keys) for pair, keys in out.items()}


_WINDOWS_EVENT_ROUTES = _windows_event_routes()
