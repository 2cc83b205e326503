"""Which parser family a raw line belongs to: a cheap classifier of anchored, precompiled regexes.

It only looks at the shape of the start of the line (plus, for JSON, a few key names); the family
parser decides the rest and raises ParseError with a reason. "unknown" lines go to the dead-letter
topic with reason 'unrecognised format'.
"""

from __future__ import annotations

import re
from typing import Literal

Family = Literal[
    "windows", "json", "syslog", "auditd", "apache_access", "apache_error", "squid", "proxifier",
    "kv_firewall", "unknown",
]  # fmt: skip

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_PRI = r"(?:<\d{1,3}>)"

_JSON_OBJECT = re.compile(r"\s*\{")
# EVTX as JSON (`{"Event": {"System": ...`), winlogbeat/Elastic Agent (`winlog`), NXLog/Mordor flat exports.
_WINDOWS_KEYS = re.compile(
    r'"(?:Event"\s*:\s*\{[^{}]*"System"|System"\s*:\s*\{|winlog|EventID|event_id|Channel)"\s*:'
)
_AUDITD = re.compile(r"(?:node=\S+ )?type=[A-Z0-9_]+ msg=audit\(\d+\.\d+:\d+\): ")
_SYSLOG = re.compile(
    rf"{_PRI}\d{{1,2}} (?:-|\d{{4}}-\d\d-\d\dT\S+) \S+ \S+ \S+ \S+ "  # RFC 5424
    # RFC 3164 with or without PRI (loghub Linux/OpenSSH too)
    rf"|{_PRI}?{_MONTH} {{1,2}}\d{{1,2}}(?: \d{{4}})? \d\d:\d\d:\d\d(?:\.\d+)? "
    # ISO-timestamped 3164 (rsyslog RFC3339 template): a host and a `tag:` must follow, so application
    # logs that merely start with a date (Zookeeper `... - INFO [`, Windows CBS `..., Info`) do not match.
    rf"|{_PRI}?\d{{4}}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)? "
    r"[A-Za-z0-9][\w.:-]* [^\s:\[\]]+(?:\[\d+\])?: "
)
_PRI_ONLY = re.compile(rf"{_PRI}\S")
_APACHE_ERROR = re.compile(
    r"\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? \d{4}\] "
    r"\[[\w.-]*:?\w+\] "
    r"|\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?\] \[[\w.-]*:?\w+\] "
    # nginx, optionally behind date-less `host prog[pid]: ` prefixes some collectors add
    r"|(?:[\w.-]+ [\w./-]+(?:\[\d+\])?: )*\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[[a-z]+\] \d+#\d+: "
)
_ACCESS = re.compile(
    r'(?:"[^"]*" )?[^\[\]"]{1,400}? \S+ \S+ \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d(?: [+-]\d{4})?\] "'
)
_SQUID = re.compile(r"\s*\d{9,11}\.\d{1,6} +-?\d+ \S+ [A-Z][A-Z_]*/\d{3} \d+ \S+ \S+ \S+ [A-Z_]+/\S+ \S+")
_PROXIFIER = re.compile(r"\[\d\d\.\d\d \d\d:\d\d:\d\d\] .+? - \S+:\d{1,5} ")
_LEADING_PRI = re.compile(rf"^{_PRI}")
# The lookbehind keeps findall linear: without it every position inside a long token is a new start.
_KV_PAIR = re.compile(r'(?<![\w.-])[A-Za-z_][\w.-]*=(?:"[^"]*"|\S*)')
# Detection only needs the start of a record; bounding it keeps a 64 KB line from costing seconds.
DETECT_PREFIX = 4096
_KV_ADDRESS = re.compile(r"(?:^|\s)(?:srcip|src_ip|src|sip|source_ip|dstip|dst_ip|dst|dip|destination_ip)=\S")


def detect_format(raw: str) -> Family:
    """The family of one raw record. Order matters:

    1. JSON first (one character tells), Windows before generic JSON since Windows events are JSON.
    2. auditd, squid, proxifier, apache_error: each anchored on a distinctive start no other family has.
    3. syslog before apache_access and kv_firewall: a syslog header is framing the syslog parser strips
       and routes on, while the access pattern's free-form client field and the key=value test would
       also accept `Feb 15 16:23:00 srv httpd: 1.2.3.4 - - [...] "GET ..."` or `... fw: srcip=...`.
    4. kv_firewall before the bare-`<PRI>` syslog fallback: `<189>date=... srcip=...` is a FortiGate-style
       record that parse_kv_firewall reads in full, own date/time included.
    """
    text = raw.lstrip("\ufeff")[:DETECT_PREFIX]
    if _JSON_OBJECT.match(text):
        return "windows" if _WINDOWS_KEYS.search(text) else "json"
    if _AUDITD.match(text):
        return "auditd"
    if _SQUID.match(text):
        return "squid"
    if _PROXIFIER.match(text):
        return "proxifier"
    if _APACHE_ERROR.match(text):
        return "apache_error"
    if _SYSLOG.match(text):
        return "syslog"
    if _ACCESS.match(text):
        return "apache_access"
    if _is_kv_firewall(text):
        return "kv_firewall"
    if _PRI_ONLY.match(text):
        return "syslog"  # RFC 3164 4.3.2: a relay stamps a message that arrived without a timestamp
    return "unknown"


def _is_kv_firewall(text: str) -> bool:
    """Mostly `key=value` tokens, with a source or destination address key among them."""
    body = _LEADING_PRI.sub("", text, count=1)
    pairs = _KV_PAIR.findall(body)
    if len(pairs) < 4 or not _KV_ADDRESS.search(body):
        return False
    covered = sum(len(p) for p in pairs)
    return covered >= 0.6 * len(body.replace(" ", ""))
