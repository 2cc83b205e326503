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


def _effective_user(event: Any) -> Any:
    """The account the process runs as: sudo's `USER=` (user.effective), else the user."""
    return _first("user.effective.name", "user.name")(event)


# Sigma field name (lower case) → where it lives in a Vigil ECS event.
RESOLVERS: dict[str, Resolver] = {
    # web proxy (Sigma `proxy` taxonomy) and web server (`webserver`, IIS W3C names)
    "c-uri": _first("url.original", "url.full"),
    "cs-uri": _first("url.original", "url.full"),
    "c-uri-query": _first("url.query"),
    "c-uri-stem": _first("url.path"),
    "c-uri-extension": _extension,
    "c-useragent": _first("user_agent.original"),
    "cs-user-agent": _first("user_agent.original"),
    "cs-method": _first("http.request.method"),
    "cs-host": _first("url.domain", "destination.domain"),
    "r-dns": _first("url.domain", "destination.domain"),
    "cs-referrer": _first("http.request.referrer"),
    "cs-referer": _first("http.request.referrer"),
    "cs-bytes": _first("http.request.bytes"),
    "sc-bytes": _first("http.response.bytes", "destination.bytes"),
    "sc-status": _first("http.response.status_code"),
    "cs-version": _first("http.version"),
    "cs-username": _first("user.name"),
    # SigmaHQ webserver rules use cs-uri-query for the whole request target (path and query).
    "cs-uri-query": _first("url.original"),
    "cs-uri-stem": _first("url.path"),
    "c-ip": _first("source.ip", "source.address"),
    "s-ip": _first("destination.ip"),
    "s-port": _first("destination.port"),
    "src_ip": _first("source.ip", "source.address"),
    "dst_ip": _first("destination.ip", "destination.address"),
    "src_port": _first("source.port"),
    "dst_port": _first("destination.port"),
    # DNS query logs
    "query": _first("dns.question.name"),
    "record_type": _first("dns.question.type"),
    "answer": _first("dns.resolved_ip"),
    # firewall
    "action": _firewall_action,
    "blocked": _blocked,
    # process / file / network events on Linux (Sysmon names)
    "image": _image,
    "commandline": _first("process.command_line"),
    "parentimage": _first("process.parent.executable"),
    "parentcommandline": _first("process.parent.command_line"),
    "processid": _first("process.pid"),
    "parentprocessid": _first("process.parent.pid"),
    "currentdirectory": _first("process.working_directory"),
    "user": _effective_user,
    "targetfilename": _first("file.path"),
    "destinationip": _first("destination.ip"),
    "destinationport": _first("destination.port"),
    "destinationhostname": _first("destination.domain"),
    "sourceip": _first("source.ip"),
    "sourceport": _first("source.port"),
    "computer": _first("host.name", "host.hostname"),
    # auditd record type (the parser keeps it in event.action)
    "type": _auditd_type,
}


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
