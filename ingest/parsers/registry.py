"""Format name → parser, in one explicit table (no import-time registration)."""

from __future__ import annotations

from core.errors import ParseError
from core.models.ecs import EcsEvent
from ingest.parsers.apache_error import parse_apache_error
from ingest.parsers.auditd import parse_auditd
from ingest.parsers.base import ParseContext, Parser
from ingest.parsers.detect import detect_format
from ingest.parsers.dns import parse_dns_file
from ingest.parsers.generic_json import parse_json
from ingest.parsers.linux_auth import parse_vsftpd_log
from ingest.parsers.netfilter import parse_kv_firewall
from ingest.parsers.proxifier import parse_proxifier
from ingest.parsers.samba_audit import parse_samba_audit
from ingest.parsers.squid import parse_squid
from ingest.parsers.syslog import parse_syslog
from ingest.parsers.web_access import parse_access, parse_nginx_access
from ingest.parsers.windows import parse_windows

PARSERS: dict[str, Parser] = {
    "syslog": parse_syslog,
    "apache_access": parse_access,
    "nginx_access": parse_nginx_access,
    "apache_error": parse_apache_error,
    "auditd": parse_auditd,
    "squid": parse_squid,
    "proxifier": parse_proxifier,
    "kv_firewall": parse_kv_firewall,
    "dns": parse_dns_file,
    "vsftpd": parse_vsftpd_log,
    "samba_audit": parse_samba_audit,
    "json": parse_json,
    "windows": parse_windows,
}

FORMATS = ("auto", *PARSERS)


def parse_record(raw: str, fmt: str, ctx: ParseContext) -> EcsEvent:
    """Parse one raw record with the named family, or the detected one for ``auto``."""
    if not raw.strip():
        raise ParseError("empty record")
    family = detect_format(raw) if fmt == "auto" else fmt
    parser = PARSERS.get(family)
    if parser is None:
        if fmt == "auto":
            raise ParseError("unrecognised format: no parser family matches this line (set the source's format)")
        raise ParseError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    return parser(raw, ctx)
