"""auth.log / secure: sshd, PAM, sudo, su, shadow-utils (useradd...), ftpd/vsftpd, login (system.auth).

Messages are matched against small ordered rule tables; each rule returns ECS fields. Attacker-controlled
text (user names) sits between fixed tokens, so patterns anchor on what follows it: `Failed password for
invalid user X from 10.0.0.1 port 22 ssh2 from 1.2.3.4 port 5 ssh2` must yield 1.2.3.4, not 10.0.0.1.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.names import Category
from ingest.parsers.base import ParseContext, build_event

if TYPE_CHECKING:
    from ingest.parsers.syslog import SyslogHeader

Fields = dict[str, Any]
Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], Fields]]

SHADOW_UTILS = ("useradd", "usermod", "userdel", "groupadd", "groupdel", "groupmod", "gpasswd", "passwd",
                "chage", "chpasswd", "newusers")  # fmt: skip
# Programs whose every line is an auth-log line, recognised or not.
_AUTH_ONLY = ("sshd", "sudo", "su", "login", "pam", *SHADOW_UTILS)
PROGRAMS = (*_AUTH_ONLY, "vsftpd", "pure-ftpd", "proftpd", "ftpd", "klogind", "gdm", "gdm-binary", "cron",
            "crond", "systemd-logind", "unix_chkpwd", "dovecot", "pop", "imap")  # fmt: skip
SNIFF = re.compile(r"pam_\w+\(|\(pam_unix\)|authentication failures?; logname=|\bROOT LOGIN (?:ON|REFUSED)\b")

_REPEATED = re.compile(r"message repeated (\d+) times: \[ ?(.*?) ?\]$")
_SOLARIS_ID = re.compile(r"\[ID \d+ [\w.]+\] ")
_PAM_PREFIX = re.compile(r"(?:pam_(\w+)\(([^:)]*)(?::([^)]*))?\):|\(pam_unix\)|pam_unix:) ")


def auth_fields(hdr: SyslogHeader) -> Fields | None:
    """ECS fields for an auth-log message; None when a non-auth program logged something unrelated."""
    return message_fields(hdr.program or "", hdr.message)


def message_fields(program: str, message: str) -> Fields | None:
    """ECS fields for one auth message of `program` (`sshd`, `sudo`...), wherever it was logged: syslog, or
    the Windows OpenSSH event log (`ingest.parsers.windows_fields.openssh`). None as in `auth_fields`."""
    program = program.lower()
    message = _SOLARIS_ID.sub("", message, count=1)
    labels: dict[str, str] = {}
    if m := _REPEATED.match(message):  # syslogd's duplicate suppression: the inner message counts N times
        labels["repeat_count"], message = m.group(1), m.group(2)
    if message.endswith(" [preauth]"):
        labels["ssh_stage"], message = "preauth", message.removesuffix(" [preauth]")
    if p := _PAM_PREFIX.match(message):
        labels["pam_module"] = p.group(1) or "unix"
        if p.group(2):
            labels["pam_service"] = p.group(2)
        message = message[p.end():]
    fields = (_sudo(message) if program == "sudo" else None) or _first_match(_rules_for(program), message)
    if fields is None and program not in _AUTH_ONLY and not program.startswith("sshd"):
        return None
    fields = fields or _ev(None, None)
    fields.setdefault("labels", {}).update(labels)
    return fields


def parse_vsftpd_log(raw: str, ctx: ParseContext) -> EcsEvent:
    """vsftpd's own log file (`Fri Jan 19 12:20:33 2007 [pid 27202] [alice] FAIL LOGIN: Client "1.2.3.4"`)."""
    m = _VSFTPD_FILE.match(raw.strip())
    if not m:
        raise ParseError("not a vsftpd log-file line: expected 'Www Mmm dd hh:mm:ss yyyy [pid N] message'")
    try:
        timestamp = datetime.strptime(" ".join(m.group("ts").split()), "%a %b %d %H:%M:%S %Y")
    except ValueError as exc:
        raise ParseError(f"vsftpd timestamp {m.group('ts')!r} is not a valid date: {exc}") from exc
    fields = _first_match(_VSFTPD, m.group("msg")) or _ev(None, None)
    fields.setdefault("process", {}).update({"name": "vsftpd", "pid": int(m.group("pid"))})
    return build_event(
        ctx, parser="vsftpd", category=Category.USER, timestamp=timestamp.replace(tzinfo=ctx.zone), raw=raw,
        dataset="system.auth", message=m.group("msg"), **fields,
    )


# --- field builders -----------------------------------------------------------------------------------

_AUTH, _NET, _SESSION, _FAIL = "authentication", "network", "session", "failure"


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        addr = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return None
    mapped = getattr(addr, "ipv4_mapped", None)  # ::ffff:1.2.3.4 is 1.2.3.4
    return str(mapped or addr)


def _endpoint(addr: str | None, port: str | None = None) -> Fields:
    ip = _ip(addr)
    return {"ip": ip, "domain": None if ip or not addr else addr, "port": int(port) if port else None}


def _ev(action: str | None, outcome: str | None, category: str = _AUTH, *types: str,
        reason: str | None = None, user: str | None = None, source: Fields | None = None,
        **extra: Any) -> Fields:  # fmt: skip
    ip = (source or {}).get("ip")
    return {
        "event": {"category": [category], "type": list(types or ("info",)), "action": action,
                  "outcome": outcome, "reason": reason},  # fmt: skip
        "user": {"name": user} if user else None,
        "source": source,
        **extra,
        "related": {"ip": [ip] if ip else [], "user": [user] if user else []},
    }


def _with_user(fields: Fields, **refs: str | None) -> Fields:
    """Add user.effective / user.target and list them in related.user."""
    for key, name in refs.items():
        if name:
            fields["user"] = {**(fields.get("user") or {}), key: {"name": name}}
            fields["related"]["user"].append(name)
    return fields


def _first_match(rules: tuple[Rule, ...], message: str) -> Fields | None:
    for pattern, build in rules:
        if m := pattern.match(message):
            return build(m)
    return None


def _user(name: str | None) -> str | None:
    return None if name in (None, "", "<invalid username>", "?") else name


def _on(action: str, outcome: str | None = None, category: str = _AUTH, *types: str,
        user: str | None = None) -> Callable[[re.Match[str]], Fields]:  # fmt: skip
    """A rule builder for patterns whose named groups are user (or u2) / ip / port / host / reason."""

    def build(m: re.Match[str]) -> Fields:
        groups = m.groupdict()
        addr = groups.get("ip") or groups.get("host")
        source = _endpoint(addr, groups.get("port")) if addr else None
        if source and groups.get("host") and groups.get("ip"):
            source["domain"] = groups["host"]
        name = _user(groups.get("user") or groups.get("u2")) or user
        return _ev(action, outcome, category, *types, user=name, source=source, reason=groups.get("reason"))

    return build


def _compile(*rules: tuple[str, Callable[[re.Match[str]], Fields]]) -> tuple[Rule, ...]:
    return tuple((re.compile(pattern), build) for pattern, build in rules)


# --- sshd -------------------------------------------------------------------------------------------------


def _login(m: re.Match[str]) -> Fields:
    outcome = {"Accepted": "success", "Failed": _FAIL}.get(m.group("result"))
    invalid = bool(m.group("invalid")) or m.group("user") == "<invalid username>"
    labels = {"ssh_method": m.group("method"), **({"ssh_invalid_user": "true"} if invalid else {})}
    return _ev("ssh_login" if outcome else "ssh_login_postponed", outcome, _AUTH,
               "start" if outcome == "success" else "info", user=_user(m.group("user")),
               source=_endpoint(m.group("ip"), m.group("port")), labels=labels)  # fmt: skip


def _closed(m: re.Match[str]) -> Fields:
    return _on(f"ssh_connection_{m.group('kind')}", None, _SESSION, "end")(m)


_AS = r"(?:(?:authenticating|invalid) user (?P<user>.*?) )?"  # `by authenticating user root 1.2.3.4`
_PORT = r"(?: port (?P<port>\d+))?"
_SSHD = _compile(
    (r"(?P<result>Accepted|Failed|Postponed) (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>.*?) "
     r"from (?P<ip>\S+)(?: port (?P<port>\d+))?(?: ssh\d?)?(?::.*)?$", _login),
    (rf"Invalid user (?P<user>.*?) from (?P<ip>\S+){_PORT}$", _on("ssh_invalid_user", _FAIL)),
    (r"input_userauth_request: invalid user (?P<user>.*)$", _on("ssh_userauth_request", _FAIL)),
    (r"(?:error: )?maximum authentication attempts exceeded for (?:invalid user )?(?P<user>.*?) "
     r"from (?P<ip>\S+) port (?P<port>\d+)", _on("ssh_max_auth_attempts", _FAIL)),
    (r"Disconnecting(?: (?:authenticating |invalid )?user (?P<user>\S*))?"
     r"(?::| (?P<ip>\S+) port (?P<port>\d+):) (?P<reason>Too many authentication failures)"
     r"(?: for (?:invalid user )?(?P<u2>\S+))?",
     _on("ssh_too_many_auth_failures", _FAIL)),
    (r"Disconnecting (?:(?:authenticating|invalid) user (?P<user>\S*) )?(?P<ip>\S+) port (?P<port>\d+): "
     r"(?P<reason>.*)", _on("ssh_disconnecting", None, _SESSION, "end")),
    (rf"Connection (?P<kind>closed|reset) by {_AS}(?P<ip>\S+){_PORT}$", _closed),
    (rf"Disconnected from (?:{_AS}|user (?P<u2>\S+) )(?P<ip>\S+) port (?P<port>\d+)$",
     _on("ssh_disconnected", None, _SESSION, "end")),
    (r"(?:error: )?Received disconnect from (?P<ip>[^\s]+?)(?: port (?P<port>\d+))?: ?\d+: (?P<reason>.*)$",
     _on("ssh_disconnect_received", None, _SESSION, "end")),
    (r"reverse mapping checking getaddrinfo for (?P<host>\S+)(?: \[(?P<ip>[^\]]+)\])? failed"
     r"(?P<reason> - POSSIBLE BREAK-IN ATTEMPT)", _on("ssh_reverse_mapping_failed", None, _NET, "info")),
    (r"Address (?P<ip>\S+) maps to (?P<host>[^\s,]+), but this does not map back to the address"
     r"(?P<reason> - POSSIBLE BREAK-IN ATTEMPT)", _on("ssh_reverse_mapping_failed", None, _NET, "info")),
    (r"User (?P<user>\S+)(?: from (?P<host>\S+))? not allowed because (?P<reason>.+)",
     _on("ssh_user_not_allowed", _FAIL)),
    (rf"ROOT LOGIN REFUSED FROM (?P<ip>\S+?){_PORT}$", _on("ssh_root_login_refused", _FAIL, user="root")),
    (r"error: PAM: (?P<reason>[Aa]uthentication (?:error|failure)|User not known to the underlying "
     r"authentication module) for (?:illegal user )?(?P<user>.*?) from (?P<host>\S+?)(?: via \S+)?\s*$",
     _on("pam_auth_failure", _FAIL)),
    (rf"Did not receive identification string from (?P<ip>\S+){_PORT}",
     _on("ssh_no_identification", None, _NET, "connection")),
    (r"(?:ssh_dispatch_run_fatal: )?Connection from (?P<ip>\S+?)(?: port (?P<port>\d+))?"
     r"(?: on \S+ port \d+.*|: (?P<reason>.*))?$", _on("ssh_connection", None, _NET, "connection", "start")),
    (r"(?:banner exchange: Connection from|Bad protocol version identification '.*' from) (?P<ip>\S+?)"
     rf"{_PORT}(?:: (?P<reason>.*))?$", _on("ssh_bad_protocol", None, _NET, "connection")),
    (r"(?:error: )?kex_exchange_identification: (?P<reason>.*)",
     _on("ssh_bad_protocol", None, _NET, "connection")),
    (r"(?:fatal: )?Unable to negotiate with (?P<ip>\S+) port (?P<port>\d+): (?P<reason>.*)",
     _on("ssh_negotiation_failed", None, _NET, "connection")),
    (r"fatal: (?P<reason>Unable to negotiate .*|no matching .*)",
     _on("ssh_negotiation_failed", None, _NET, "connection")),
    (rf"(?:fatal: )?Timeout before authentication for (?:connection from )?(?P<ip>[^\s,]+){_PORT}",
     _on("ssh_auth_timeout", _FAIL)),
    (r"refused connect from (?P<host>\S+) \((?P<ip>[^)]+)\)",
     _on("connection_refused", None, _NET, "denied")),
)  # fmt: skip


# --- PAM and sessions (any program) -----------------------------------------------------------------------


def _pam_failure(m: re.Match[str]) -> Fields:
    user, ruser, rhost = _user(m.group("user")), _user(m.group("ruser")), m.group("rhost")
    fields = _ev("pam_auth_failure", _FAIL, user=user or ruser, source=_endpoint(rhost) if rhost else None)
    fields["labels"] = {"pam_tty": m.group("tty")} if m.group("tty") else {}
    if m.group("count"):
        fields["labels"]["repeat_count"] = m.group("count")
    if ruser and user and ruser != user:
        fields["related"]["user"].append(ruser)
    return fields


def _session(m: re.Match[str]) -> Fields:
    what = m.group("what")
    opened = what in ("opened", "in")
    action, etype = ("session_opened", "start") if opened else ("session_closed", "end")
    fields = _ev(action, "success", _SESSION, etype, user=m.group("user"))
    if by := m.groupdict().get("by"):
        fields["related"]["user"].append(by)
    return fields


_PAM = _compile(
    # Fixed key order lets an injected `rhost=` inside ruser/user be told apart from the real one.
    (r"(?:PAM (?P<count>\d+) more )?authentication failures?; logname=(?P<logname>.*?) uid=\d* euid=\d* "
     r"tty=(?P<tty>.*?) ruser=(?P<ruser>.*?) rhost=(?P<rhost>\S*)(?:\s+user=(?P<user>.*?))?\s*$",
     _pam_failure),
    (r"check pass; user (?P<reason>unknown)", _on("pam_check_pass", _FAIL)),
    (r"session (?P<what>opened) for user (?P<user>[^\s(]+)(?:\(uid=\d+\))?"
     r"(?: by (?P<by>[^\s(]*)(?:\(uid=\d+\))?)?", _session),
    (r"session (?P<what>closed) for user (?P<user>[^\s(]+)", _session),
    (r"user (?P<user>\S+) logged (?P<what>in|out)\.?$", _session),
    (r"password changed for (?P<u>\S+)", lambda m: _iam("password-changed", "user", "change", target=m["u"])),
    (r"FAILED LOGIN \(?\d+\)? (?:on '?\S+'? )?FROM (?P<host>\S+?),? FOR (?P<user>\S+?),? (?P<reason>.*)",
     _on("login", _FAIL)),
    (r"(?:.*?: )?ROOT LOGIN ON (?P<reason>\S+)",
     lambda m: _ev("login", "success", _AUTH, "start", user="root", labels={"tty": m["reason"]})),
)  # fmt: skip


# --- sudo and su --------------------------------------------------------------------------------------------

_SUDO = re.compile(r"\s*(?P<user>\S+) : (?P<body>.*)$")


def _sudo(message: str) -> Fields | None:
    m = _SUDO.match(message)
    if not m:
        return None
    kv: dict[str, str] = {}
    reasons: list[str] = []
    parts = m.group("body").split(" ; ")
    for i, part in enumerate(parts):
        key, sep, value = part.partition("=")
        if key == "COMMAND":  # last, and may itself contain " ; "
            kv[key] = " ; ".join([value, *parts[i + 1:]])
            break
        if sep and key.isupper():
            kv[key] = value
        else:
            reasons.append(part.strip())
    reason = "; ".join(reasons) or None
    failed_auth = bool(reason and "incorrect password" in reason)
    fields = _ev("sudo", _FAIL if reason else "success", _AUTH if failed_auth else "process",
                 "info" if reason else "start", reason=reason, user=m.group("user"),
                 process={"command_line": kv.get("COMMAND"), "working_directory": kv.get("PWD")},
                 labels={"tty": kv["TTY"]} if "TTY" in kv else {})  # fmt: skip
    return _with_user(fields, effective=kv.get("USER"))


def _su(ok: bool) -> Callable[[re.Match[str]], Fields]:
    def build(m: re.Match[str]) -> Fields:
        tty = m.groupdict().get("tty")
        fields = _ev("su", "success" if ok else _FAIL, _AUTH, "start" if ok else "info", user=_user(m["who"]),
                     labels={"tty": tty} if tty else {})  # fmt: skip
        return _with_user(fields, effective=m["to"] or "root")

    return build


_SU = _compile(
    (r"Successful su for (?P<to>\S+) by (?P<who>\S+)", _su(True)),
    (r"FAILED su for (?P<to>\S+) by (?P<who>\S+)", _su(False)),
    (r"\+ (?P<tty>\S+) (?P<who>[^:\s]+):(?P<to>\S+)", _su(True)),
    (r"- (?P<tty>\S+) (?P<who>[^:\s]+):(?P<to>\S+)", _su(False)),
    (r"'su (?P<to>\S*)' succeeded for (?P<who>\S+) on (?P<tty>\S+)", _su(True)),
    (r"'su (?P<to>\S*)' failed for (?P<who>\S+) on (?P<tty>\S+)", _su(False)),
    (r"\(to (?P<to>\S+)\) (?P<who>\S+) on (?P<tty>\S+)", _su(True)),
    (r"FAILED SU \(to (?P<to>\S+)\) (?P<who>\S+) on (?P<tty>\S+)", _su(False)),
)


# --- shadow-utils: account and group management (event.category iam) ---------------------------------------


def _iam(action: str, kind: str, etype: str, *, target: str | None = None, group: str | None = None,
         gid: str | None = None, uid: str | None = None, actor: str | None = None,
         outcome: str = "success") -> Fields:  # fmt: skip
    fields = _ev(action, outcome, "iam", kind, etype, user=actor,
                 group={"name": group, "id": gid} if group else None)  # fmt: skip
    fields = _with_user(fields, target=target)
    if uid and target:
        fields["user"]["target"]["id"] = uid
    return fields


def _member(action: str) -> Callable[[re.Match[str]], Fields]:
    return lambda m: _iam(action, "group", "change", target=m["u"], group=m["g"],
                          actor=m.groupdict().get("by"))  # fmt: skip


def _account(action: str, kind: str = "user", etype: str = "change") -> Callable[[re.Match[str]], Fields]:
    return lambda m: _iam(action, kind, etype, target=m.groupdict().get("u"), group=m.groupdict().get("g"),
                          actor=m.groupdict().get("by"))  # fmt: skip


_SHADOW = _compile(
    (r"new user: name=(?P<u>[^,]+), UID=(?P<uid>\d+), GID=(?P<gid>\d+)",
     lambda m: _iam("user-created", "user", "creation", target=m["u"], uid=m["uid"])),
    (r"failed adding user '(?P<u>[^']+)'",
     lambda m: _iam("user-created", "user", "creation", target=m["u"], outcome=_FAIL)),
    (r"(?:new group|group added to \S+): name=(?P<g>[^,]+)(?:, GID=(?P<gid>\d+))?",
     lambda m: _iam("group-created", "group", "creation", group=m["g"], gid=m["gid"])),
    (r"add '(?P<u>[^']+)' to (?:shadow )?group '(?P<g>[^']+)'", _member("added-user-to-group")),
    (r"user (?P<u>\S+) added by (?P<by>\S+) to group (?P<g>\S+)", _member("added-user-to-group")),
    (r"(?:delete|remove) '(?P<u>[^']+)' from (?:shadow )?group '(?P<g>[^']+)'",
     _member("removed-user-from-group")),
    (r"user (?P<u>\S+) removed by (?P<by>\S+) from group (?P<g>\S+)", _member("removed-user-from-group")),
    (r"delete user '(?P<u>[^']+)'", _account("user-deleted", "user", "deletion")),
    (r"removed (?:shadow )?group '(?P<g>[^']+)' owned by", _account("group-deleted", "group", "deletion")),
    (r"group '(?P<g>[^']+)' removed", _account("group-deleted", "group", "deletion")),
    (r"lock user '(?P<u>[^']+)' password", _account("user-locked")),
    (r"unlock user '(?P<u>[^']+)' password", _account("user-unlocked")),
    (r"change user '(?P<u>[^']+)' password", _account("password-changed")),
    (r"change user (?:name )?'(?P<u>[^']+)'", _account("user-modified")),
    (r"password for '(?P<u>[^']+)' changed by '(?P<by>[^']+)'", _account("password-changed")),
    (r"changed password expiry for (?P<u>\S+)", _account("password-expiry-changed")),
    (r"group changed in \S+ \(group (?P<g>[^/\s]+)", _account("group-modified", "group")),
)  # fmt: skip


# --- ftp daemons, klogind ----------------------------------------------------------------------------------


def _ftp_file(m: re.Match[str]) -> Fields:
    upload = m["op"] == "UPLOAD"
    return _ev(f"ftp_{m['op'].lower()}", "success" if m["ok"] == "OK" else _FAIL, "file",
               "creation" if upload else "access", user=_user(m["user"]), source=_endpoint(m["ip"]),
               file={"path": m["path"]})  # fmt: skip


_FTP = _compile(
    (r"\[(?P<user>[^\]]*)\] (?P<ok>OK|FAIL) LOGIN: Client \"(?P<ip>[^\"]+)\"(?:, \"?(?P<reason>[^\"]*))?",
     lambda m: _ev("ftp_login", "success" if m["ok"] == "OK" else _FAIL, _AUTH, reason=m["reason"] or None,
                   user=_user(m["user"]), source=_endpoint(m["ip"]))),
    (r"\[(?P<user>[^\]]*)\] (?P<ok>OK|FAIL) (?P<op>UPLOAD|DOWNLOAD): Client \"(?P<ip>[^\"]+)\", "
     r"\"(?P<path>[^\"]+)\"", _ftp_file),
    (r"CONNECT: Client \"(?P<ip>[^\"]+)\"", _on("ftp_connection", None, _NET, "connection", "start")),
    (r"(?P<anon>ANONYMOUS )?FTP LOGIN FROM (?P<ip>[^\s,]+),? (?:\[[^\]]*\], )?\(?(?P<user>[^\s)]*)",
     lambda m: _ev("ftp_login", "success", _AUTH, "start", user=_user(m["user"]) or "anonymous",
                   source=_endpoint(m["ip"]))),
    (r"FTP LOGIN FAILED FROM (?P<ip>[^\s,]+),? (?P<user>\S*)", _on("ftp_login", _FAIL)),
    (r"connection from (?P<ip>\S+) \((?P<host>[^)]*)\)",
     _on("ftp_connection", None, _NET, "connection", "start")),
    (r"User (?P<user>\S+) timed out after (?P<reason>\d+ seconds)",
     _on("ftp_session_timeout", None, _SESSION, "end")),
    (r"Authentication failed from (?P<ip>\S+) \((?P<host>[^)]*)\): (?P<reason>.*?)\s*$",
     _on("rlogin", _FAIL)),
    (r"Kerberos authentication failed", _on("kerberos_auth", _FAIL)),
    (r"Couldn't authenticate user", _on("login", _FAIL)),
)  # fmt: skip
_VSFTPD = _FTP[:3]
_VSFTPD_FILE = re.compile(
    r"(?P<ts>[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} [\d:]{8} \d{4}) \[pid (?P<pid>\d+)\] (?P<msg>.*)"
)


def _rules_for(program: str) -> tuple[Rule, ...]:
    if program.startswith("sshd"):
        return _SSHD + _PAM
    if program == "su":
        return _SU + _PAM
    if program in SHADOW_UTILS:
        return _SHADOW + _PAM
    return _PAM + _FTP
