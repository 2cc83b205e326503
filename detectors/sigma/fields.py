"""Sigma taxonomy names → ECS fields of Vigil events (Linux, proxy, webserver, DNS, firewall, Cisco).

Sigma's generic log sources use W3C/IIS names for web logs (`c-uri`, `cs-method`, `sc-status`), the
Sysmon names for process events on every OS (`Image`, `CommandLine`), and raw auditd keys (`type`,
`a0`, `exe`). Each name resolves from the ECS fields Vigil's parsers fill; auditd keys come from the
`auditd_*` labels the auditd parser keeps. Route keys for these events come from `event.dataset`
and the syslog program name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from detectors.sigma import logsources as ls
from detectors.sigma.paths import path

Resolver = Callable[[Any], Any]
# Cisco IOS messages carry `%FACILITY-[SUBFACILITY-]SEVERITY-MNEMONIC:` (e.g. %PARSER-5-CFGLOG_LOGGEDCMD).
_CISCO = re.compile(r"%[A-Z][A-Z0-9_]*-(?:[A-Z0-9_]+-)?[0-7]-[A-Z0-9_]+:")


_get = path


def _first(*paths: str) -> Resolver:
    def resolve(event: Any) -> Any:
        for p in paths:
            value = _get(event, p)
            if value not in (None, "", []):
                return value
        return None

    return resolve


def _extension(event: Any) -> Any:
    url_path = _get(event, "url.path")
    if not isinstance(url_path, str):
        return None
    name = url_path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1] if "." in name else None


def _image(event: Any) -> Any:
    """The executable; for auditd EXECVE / sudo COMMAND (no exe recorded) the absolute argv[0]."""
    exe = _get(event, "process.executable")
    if exe:
        return exe
    args = _get(event, "process.args") or []
    first = args[0] if args else (str(_get(event, "process.command_line") or "").split(" ", 1)[0])
    return first if first.startswith("/") else None


def _auditd_type(event: Any) -> Any:
    if _get(event, "event.dataset") != "auditd.log":
        return None
    action = _get(event, "event.action")
    return action.upper() if isinstance(action, str) else None


_ACTION_SYNONYMS = {"allowed": ("accept", "allow", "pass"), "denied": ("deny", "drop", "reject", "block")}


def _firewall_action(event: Any) -> Any:
    """Vigil writes `allowed`/`denied`; firewall rules also say accept, drop, reject..."""
    action = _get(event, "event.action")
    if not isinstance(action, str):
        return None
    return [action, *_ACTION_SYNONYMS.get(action.lower(), ())]


def _blocked(event: Any) -> Any:
    types = _get(event, "event.type") or []
    if "denied" in types:
        return "true"
    return "false" if "allowed" in types else None


# Sigma field name (lower case) → the ECS fields holding it, the first non-empty one wins. The hunt
# queries the same fields in the same order (`detectors/hunt/ecs_fields.py`).
ECS_PATHS: dict[str, tuple[str, ...]] = {
    # web proxy (Sigma `proxy` taxonomy) and web server (`webserver`, IIS W3C names)
    "c-uri": ("url.original", "url.full"),
    "cs-uri": ("url.original", "url.full"),
    "c-uri-query": ("url.query",),
    "c-uri-stem": ("url.path",),
    "c-useragent": ("user_agent.original",),
    "cs-user-agent": ("user_agent.original",),
    "cs-method": ("http.request.method",),
    "cs-host": ("url.domain", "destination.domain"),
    "r-dns": ("url.domain", "destination.domain"),
    "cs-referrer": ("http.request.referrer",),
    "cs-referer": ("http.request.referrer",),
    "cs-bytes": ("http.request.bytes",),
    "sc-bytes": ("http.response.bytes", "destination.bytes"),
    "sc-status": ("http.response.status_code",),
    "cs-version": ("http.version",),
    "cs-username": ("user.name",),
    # SigmaHQ webserver rules use cs-uri-query for the whole request target (path and query).
    "cs-uri-query": ("url.original",),
    "cs-uri-stem": ("url.path",),
    "c-ip": ("source.ip", "source.address"),
    "s-ip": ("destination.ip",),
    "s-port": ("destination.port",),
    "src_ip": ("source.ip", "source.address"),
    "dst_ip": ("destination.ip", "destination.address"),
    "src_port": ("source.port",),
    "dst_port": ("destination.port",),
    # DNS query logs
    "query": ("dns.question.name",),
    "record_type": ("dns.question.type",),
    "answer": ("dns.resolved_ip",),
    # process / file / network events on Linux (Sysmon names)
    "commandline": ("process.command_line",),
    "parentimage": ("process.parent.executable",),
    "parentcommandline": ("process.parent.command_line",),
    "processid": ("process.pid",),
    "parentprocessid": ("process.parent.pid",),
    "currentdirectory": ("process.working_directory",),
    "user": ("user.effective.name", "user.name"),  # sudo's USER=, else the user
    "targetfilename": ("file.path",),
    "destinationip": ("destination.ip",),
    "destinationport": ("destination.port",),
    "destinationhostname": ("destination.domain",),
    "sourceip": ("source.ip",),
    "sourceport": ("source.port",),
    "computer": ("host.name", "host.hostname"),
}
# Sigma fields the stream computes from several values or rewrites: no single indexed field holds them.
DERIVED: dict[str, Resolver] = {
    "c-uri-extension": _extension,
    "action": _firewall_action,  # firewall verdict and its synonyms
    "blocked": _blocked,
    "image": _image,
    "type": _auditd_type,  # auditd record type (the parser keeps it in event.action)
}
RESOLVERS: dict[str, Resolver] = {**{key: _first(*paths) for key, paths in ECS_PATHS.items()}, **DERIVED}


def resolve(event: Any, key: str, routes: tuple[str, ...]) -> Any:
    """Value of Sigma field `key` (lower case) in an ECS event; None when the event has no such field."""
    resolver = RESOLVERS.get(key)
    if resolver is not None:
        value = resolver(event)
        if value is not None:
            return value
    labels: Mapping[str, Any] = _get(event, "labels") or {}
    if "linux:svc:auditd" in routes:
        # auditd keys: `a0`, `exe`, `key`...; interpreted names (`SYSCALL=memfd_create`) as a second value
        raw, enriched = labels.get(f"auditd_{key}"), labels.get(f"auditd_enriched_{key}")
        if raw is not None or enriched is not None:
            return [v for v in (raw, enriched) if v is not None]
    if key in labels:
        return labels[key]
    return _get(event, key) if "." in key else None


def event_routes(event: Any) -> tuple[str, ...]:
    """Route keys of a non-Windows event, from its dataset, parser and syslog program."""
    dataset = _get(event, "event.dataset")
    parser = str(_get(event, "vigil.parser") or "")
    keys = list(ls.DATASET_ROUTES.get(dataset, ()))
    message = _get(event, "message") or _get(event, "event.original")
    if isinstance(message, str) and "%" in message and _CISCO.search(message):
        return ("cisco:*", *(k for k in keys if not k.startswith("linux")))
    if parser.startswith("syslog") or parser == "vsftpd":  # a Linux log line: services by program name
        keys += ["linux:*", "linux:svc:syslog"]
        program = str(_get(event, "process.name") or _get(event, "log.syslog.appname") or "").lower()
        service = ls.LINUX_PROGRAM_SERVICES.get(program) or ("sshd" if program.startswith("sshd-") else None)
        if service or parser == "vsftpd":
            keys.append(f"linux:svc:{service or 'vsftpd'}")
    if dataset == "auditd.log":
        keys.extend(_auditd_categories(event))
    elif "linux:*" in keys and _is_process_start(event):
        keys.append("linux:cat:process_creation")  # sudo COMMAND=...
    return tuple(dict.fromkeys(keys))


def _auditd_categories(event: Any) -> list[str]:
    action = _get(event, "event.action")
    if action == "execve":
        return ["linux:cat:process_creation"]
    if action == "path":
        nametype = str((_get(event, "labels") or {}).get("auditd_nametype", "")).upper()
        if nametype == "CREATE":
            return ["linux:cat:file_event"]
        if nametype == "DELETE":
            return ["linux:cat:file_delete"]
    return []


def _is_process_start(event: Any) -> bool:
    return "process" in (_get(event, "event.category") or []) and "start" in (_get(event, "event.type") or [])
