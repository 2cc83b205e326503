"""Mail transfer agents: postfix (dataset postfix.log) and sendmail (dataset sendmail.log).

One message crosses several postfix daemons (smtpd -> cleanup -> qmgr -> smtp/local), each logging one
line with the queue id; every line maps to `email.local_id` so the message can be reassembled in a query.
`email.size` (from qmgr) is what the 5 MB attachment rule reads.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.parsers.syslog import SyslogHeader

Fields = dict[str, Any]
Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], Fields]]

SENDMAIL_PROGRAMS = ("sendmail", "sm-mta", "sm-msp-queue", "sm-acceptingconnections")

_QUEUE_ID = re.compile(r"(?:(?P<qid>[0-9A-F]{6,12}|[0-9A-Za-z]{13,20})|NOQUEUE): ")
_SM_QUEUE_ID = re.compile(r"(?P<qid>[0-9A-Za-z]{14}): ")
_PEER = r"(?P<host>[^\[\s]*)\[(?P<ip>[^\]]+)\](?::(?P<port>\d+))?"
_SM_PEER = r"(?P<host>[^\s\[]*) ?\[(?:IPv6:)?(?P<ip>[^\]]+)\](?: \(may be forged\))?"
_KV_ADDR = re.compile(r"\b(from|to|orig_to|helo)=<([^>]*)>")
_STATUS = {"sent": "success", "delivered": "success", "bounced": "failure", "expired": "failure",
           "undeliverable": "failure", "deferred": None}  # fmt: skip


def postfix_fields(hdr: SyslogHeader) -> Fields:
    return _mta(hdr.message, _QUEUE_ID, _POSTFIX)


def sendmail_fields(hdr: SyslogHeader) -> Fields:
    return _mta(hdr.message, _SM_QUEUE_ID, _SENDMAIL)


def _mta(message: str, queue_id: re.Pattern[str], rules: tuple[Rule, ...]) -> Fields:
    qid = None
    if m := queue_id.match(message):
        qid, message = m.group("qid"), message[m.end():]
    for pattern, build in rules:
        if m := pattern.match(message):
            fields = build(m)
            break
    else:
        fields = _mail(None, None, None)
        if peer := re.search(_PEER if rules is _POSTFIX else _SM_PEER, message):
            _add_peer(fields, peer)
    if qid:
        fields["email"]["local_id"] = qid
    return fields


def _mail(action: str | None, outcome: str | None, m: re.Match[str] | None, *types: str,
          category: str = "email") -> Fields:  # fmt: skip
    groups = m.groupdict() if m else {}
    fields: Fields = {
        "event": {"category": [category], "type": list(types or ("info",)), "action": action,
                  "outcome": outcome, "reason": groups.get("reason")},  # fmt: skip
        "email": {},
        "related": {"ip": [], "user": []},
        "labels": {},
    }
    if groups.get("ip"):
        _add_peer(fields, m)  # type: ignore[arg-type]
    if user := groups.get("user"):
        fields["user"] = {"name": user}
        fields["related"]["user"].append(user)
    return fields


def _add_peer(fields: Fields, m: re.Match[str]) -> None:
    groups = m.groupdict()
    ip, host, port = _ip(groups.get("ip")), groups.get("host"), groups.get("port")
    fields["source"] = {"ip": ip, "domain": host if host and host != "unknown" else None,
                        "port": int(port) if port else None}  # fmt: skip
    if ip:
        fields["related"]["ip"].append(ip)


def _addresses(fields: Fields, text: str) -> Fields:
    for key, value in _KV_ADDR.findall(text):
        if key in ("from", "to") and value:
            fields["email"].setdefault(key, {"address": []})["address"].append(value)
        elif key == "helo" and value:
            fields["labels"]["smtp_helo"] = value
        elif key == "orig_to" and value:
            fields["labels"]["email_orig_to"] = value
    return fields


def _reject(m: re.Match[str]) -> Fields:
    fields = _addresses(_mail("smtp-reject", "failure", m, "denied"), m.group("kv") or "")
    fields["labels"].update({"smtp_command": m.group("cmd"), "smtp_code": m.group("code")})
    if m.group("kind") != "reject":
        fields["labels"]["postfix_reject_kind"] = m.group("kind")
    return fields


def _delivery(m: re.Match[str]) -> Fields:
    status = m.group("status")
    fields = _addresses(_mail("mail-delivery", _STATUS.get(status), m, "info"), m.group(0))
    fields["labels"]["delivery_status"] = status
    if relay := re.match(r"(?P<host>[^\[,]+)(?:\[(?P<ip>[^\]]+)\](?::(?P<port>\d+))?)?", m.group("relay")):
        ip = _ip(relay.group("ip"))
        port = relay.group("port")
        fields["destination"] = {"domain": relay.group("host"), "ip": ip, "port": int(port) if port else None}
        if ip:
            fields["related"]["ip"].append(ip)
    return fields


def _queued(m: re.Match[str]) -> Fields:
    fields = _addresses(_mail("mail-queued", None, m), m.group(0))
    fields["email"]["size"] = int(m.group("size"))
    fields["labels"]["email_recipient_count"] = m.group("nrcpt")
    return fields


def _sasl_fail(m: re.Match[str]) -> Fields:
    fields = _mail("smtp-auth", "failure", m, "info", category="authentication")
    fields["labels"]["sasl_method"] = m.group("mech")
    return fields


def _client(m: re.Match[str]) -> Fields:
    fields = _mail("smtp-client", "success" if m.group("user") else None, m)
    if m.group("mech"):
        fields["event"]["category"].append("authentication")
        fields["labels"]["sasl_method"] = m.group("mech")
    return fields


def _simple(action: str, outcome: str | None = None, *types: str) -> Callable[[re.Match[str]], Fields]:
    return lambda m: _addresses(_mail(action, outcome, m, *types), m.group(0))


_FAIL, _DENY = ("failure",), ("failure", "denied")
_POSTFIX: tuple[Rule, ...] = tuple((re.compile(p), b) for p, b in (
    (rf"(?P<kind>reject|milter-reject|reject_warning|discard|hold): (?P<cmd>\S+) from {_PEER}: "
     r"(?P<code>\d{3}) (?:\d\.\d{1,3}\.\d{1,3} )?(?P<reason>[^;]*)(?:;(?P<kv>.*))?$", _reject),
    (r"to=<[^>]*>,(?: orig_to=<[^>]*>,)? relay=(?P<relay>[^,]+),.*?status=(?P<status>\w+)"
     r"(?: \((?P<reason>.*)\))?$", _delivery),
    (r"from=<[^>]*>, size=(?P<size>\d+), nrcpt=(?P<nrcpt>\d+)", _queued),
    (r"message-id=<?(?P<mid>[^>\s]*)>?",
     lambda m: _mail("message-id", None, m) | {"email": {"message_id": m["mid"]}}),
    (rf"client={_PEER}(?:, sasl_method=(?P<mech>[^,]+), sasl_username=(?P<user>\S+))?", _client),
    (r"uid=(?P<uid>\d+) from=<[^>]*>",
     lambda m: _addresses(_mail("mail-submitted", None, m), m.group(0)) | {"user": {"id": m["uid"]}}),
    (rf"warning: {_PEER}: SASL (?P<mech>\S+) authentication failed: ?(?P<reason>.*?)"
     r"(?:, sasl_username=(?P<user>\S+))?$", _sasl_fail),
    (rf"connect from {_PEER}", _simple("smtp-connect", None, "connection", "start")),
    (rf"disconnect from {_PEER}(?P<stats>.*)", _simple("smtp-disconnect", None, "connection", "end")),
    (r"(?:NOQUEUE: )?(?P<reason>lost connection|timeout|too many errors|improper command pipelining) "
     rf"after \S+ from {_PEER}", _simple("smtp-protocol-error", *_FAIL)),
    (rf"(?:setting up TLS connection|(?:\w+ )?TLS connection established) from {_PEER}", _simple("smtp-tls")),
    (rf"warning: (?P<reason>.*rate limit exceeded): \d+ from {_PEER}", _simple("smtp-rate-limited", *_DENY)),
    (r"warning: hostname (?P<host>\S+) does not resolve to address (?P<ip>[^\s:]+)",
     _simple("smtp-dns-mismatch")),
    (r"(?P<reason>PREGREET|HANGUP|COMMAND (?:TIME|COUNT|LENGTH) LIMIT|BARE NEWLINE|NON-SMTP COMMAND"
     r"|DNSBL rank \d+).*? from (?P<host>)\[(?P<ip>[^\]]+)\]:(?P<port>\d+)",
     _simple("smtp-postscreen", *_DENY)),
    (r"(?:CONNECT|PASS NEW|PASS OLD|DISCONNECT|WHITELISTED|ALLOWLISTED) \[(?P<ip>[^\]]+)\]:(?P<port>\d+)"
     r"(?P<host>)", _simple("smtp-postscreen")),
    (r"removed$", lambda m: _mail("mail-removed", None, m)),
))  # fmt: skip

def _sm_reject(m: re.Match[str]) -> Fields:
    fields = _mail("smtp-reject", "failure", m, "denied")
    fields["labels"].update({"smtp_ruleset": m.group("cmd"), "smtp_code": m.group("code")})
    if m.group("cmd") == "check_rcpt" and (to := m.group("arg1").strip("<>")):
        _addresses(fields, f"to=<{to}>")
    return fields


_SENDMAIL: tuple[Rule, ...] = tuple((re.compile(p), b) for p, b in (
    (rf"ruleset=(?P<cmd>\w+), arg1=(?P<arg1>[^,]*), (?:arg2=[^,]*, )?relay={_SM_PEER}, "
     r"reject=(?P<code>\d{3}) (?:\d\.\d\.\d+ )?(?P<reason>.*?)\s*$", _sm_reject),
    (r"<(?P<to>[^>]+)>\.\.\. (?P<reason>No such user here|User unknown|Relaying denied.*)",
     lambda m: _addresses(_mail("smtp-reject", "failure", m, "denied"), f"to=<{m['to']}>")),
    (rf"from=<[^>]*>, size=(?P<size>\d+), class=\S+, nrcpts=(?P<nrcpt>\d+).*?relay={_SM_PEER}", _queued),
    (r"to=<?[^,>]*>?,.*?stat=(?P<status>\w+)(?: \((?P<reason>.*)\))?",
     lambda m: _addresses(_mail("mail-delivery", _STATUS.get(m["status"].lower()), m), m.group(0))),
    (rf"{_SM_PEER} did not issue (?P<reason>MAIL/EXPN/VRFY/ETRN)", _simple("smtp-no-transaction", None)),
    (rf"(?:{_SM_PEER}: )?(?P<cmd>EXPN|VRFY|expn|vrfy) (?P<arg>\S+) \[rejected\]",
     _simple("smtp-reject", *_DENY)),
    (rf"rejecting commands from {_SM_PEER} due to (?P<reason>pre-greeting traffic)",
     _simple("smtp-reject", *_DENY)),
    (rf"lost input channel from {_SM_PEER}", _simple("smtp-protocol-error", "failure")),
))  # fmt: skip


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.removeprefix("IPv6:")))
    except ValueError:
        return None
