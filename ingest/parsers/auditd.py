"""Linux audit records (dataset auditd.log): `[node=N ]type=T msg=audit(sec.ms:seq): key=value ...`.

Handles the shapes auditd writes: quoted and bare values, hex-encoded strings (auditd hex-encodes
`proctitle`, `exe`, `name`, `cmd`, EXECVE `aN`... when they hold spaces, quotes or control bytes), the
user-space part `msg='op=... res=success'`, and the ENRICHED format's `\\x1d`-separated translations
(`UID="root" AUID="alice"`). Every field, decoded, is also kept in `labels` as `auditd_<key>` so rules
written against raw audit fields (`a0`, `syscall`, `key`...) still find them.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.names import Category
from ingest.parsers.base import ParseContext, build_event
from ingest.parsers.web_access import prune

Fields = dict[str, Any]

HEADER = re.compile(
    r"(?:node=(?P<node>\S+) )?type=(?P<type>[A-Z0-9_]+|UNKNOWN\[\d+\]) "
    r"msg=audit\((?P<sec>\d+)\.(?P<ms>\d{1,3}):(?P<seq>\d+)\):\s*(?P<body>.*)",
    re.S,
)
_TOKEN = re.compile(r"""(?P<key>[A-Za-z_][\w-]*(?:\[\d+\])?)=(?P<val>"[^"]*"|'[^']*'|\S*)|(?P<word>\S+)""")
_HEX = re.compile(r"(?:[0-9A-F]{2})+")
_ARG = re.compile(r"a(\d+)(?:\[(\d+)\])?")
# Fields auditd hex-encodes when the value is untrusted (the kernel's audit_log_untrustedstring).
_ENCODED = frozenset({"acct", "cmd", "comm", "cwd", "data", "dir", "exe", "file", "key", "name", "path",
                      "proctitle", "root_dir", "sw", "vm", "watch"})  # fmt: skip
# sshd logs `acct="(invalid user)"` for names that do not exist (kept in labels.auditd_acct).
_UNSET = frozenset({"", "?", "(null)", "(none)", "unset", "4294967295", "-1", "(unknown user)",
                    "(invalid user)"})  # fmt: skip
_SUCCESS = frozenset({"success", "yes", "1"})
_FAILURE = frozenset({"failed", "failure", "no", "0"})
_USER_TYPES = re.compile(r"USER_\w+|CRED_\w+|ACCT_\w+|GRP_\w+|ROLE_\w+|(?:ADD|DEL)_(?:USER|GROUP)|LOGIN")
_ECS_KIND: dict[str, tuple[list[str], list[str]]] = {
    "USER_AUTH": (["authentication"], ["info"]),
    "USER_ACCT": (["authentication"], ["info"]),
    "USER_LOGIN": (["authentication", "session"], ["start"]),
    "USER_LOGOUT": (["session"], ["end"]),
    "USER_START": (["session"], ["start"]),
    "USER_END": (["session"], ["end"]),
    "CRED_ACQ": (["authentication"], ["info"]),
    "CRED_REFR": (["authentication"], ["info"]),
    "CRED_DISP": (["authentication"], ["info"]),
    "USER_CHAUTHTOK": (["iam"], ["user", "change"]),
    "USER_MGMT": (["iam"], ["user", "change"]),
    "ADD_USER": (["iam"], ["user", "creation"]),
    "DEL_USER": (["iam"], ["user", "deletion"]),
    "ADD_GROUP": (["iam"], ["group", "creation"]),
    "DEL_GROUP": (["iam"], ["group", "deletion"]),
    "GRP_MGMT": (["iam"], ["group", "change"]),
    "USER_CMD": (["process"], ["start"]),
    "EXECVE": (["process"], ["start"]),
    "SYSCALL": (["process"], ["info"]),
    "PROCTITLE": (["process"], ["info"]),
    "TTY": (["process"], ["info"]),
    "USER_TTY": (["process"], ["info"]),
    "PATH": (["file"], ["info"]),
    "CWD": (["file"], ["info"]),
    "CONFIG_CHANGE": (["configuration"], ["change"]),
    "SOFTWARE_UPDATE": (["package"], ["installation"]),
    "SYSTEM_BOOT": (["host"], ["start"]),
    "SYSTEM_SHUTDOWN": (["host"], ["end"]),
    "SERVICE_START": (["process"], ["start"]),
    "SERVICE_STOP": (["process"], ["end"]),
    "KERN_MODULE": (["driver"], ["info"]),
    "CRYPTO_SESSION": (["network"], ["connection"]),
    "CRYPTO_KEY_USER": (["network"], ["info"]),
}
_GROUP_TYPES = frozenset({"ADD_GROUP", "DEL_GROUP", "GRP_MGMT", "GRP_CHAUTHTOK"})
MAX_LABELS = 64
MAX_LABEL_CHARS = 1024


def parse_auditd(raw: str, ctx: ParseContext) -> EcsEvent:
    m = HEADER.match(raw.strip())
    if not m:
        raise ParseError(
            "not a Linux audit record: expected `type=TYPE msg=audit(seconds.millis:serial): ...`"
        )
    body, _, enriched_text = m.group("body").partition("\x1d")
    values, words = _pairs(body)
    if inner := values.pop("msg", None):  # the user-space part: msg='op=... res=success'
        inner_values, inner_words = _pairs(inner)
        words += inner_words
        for key, value in inner_values.items():
            values[key if key not in values else f"msg_{key}"] = value
    enriched, _ = _pairs(enriched_text)
    etype = m.group("type")
    millis = int(m.group("ms").ljust(3, "0"))
    timestamp = datetime.fromtimestamp(int(m.group("sec")), UTC) + timedelta(milliseconds=millis)
    fields = _ecs(etype, values, enriched, m.group("node"))
    labels, truncated = _labels(values, enriched, m.group("seq"), words)
    fields["labels"] = labels
    if truncated:
        fields["tags"] = ["auditd_labels_truncated"]
    category = Category.USER if _USER_TYPES.fullmatch(etype) else Category.SYSTEM
    return build_event(ctx, parser="auditd", category=category, timestamp=timestamp, raw=raw,
                       dataset="auditd.log", **prune(fields))  # fmt: skip


def _pairs(text: str) -> tuple[dict[str, str], list[str]]:
    """key=value pairs (first wins, hex decoded) and free words (`tty`, `pam_tally2`); words after a bare
    `op=` continue it: shadow-utils writes `op=adding group to /etc/group id=1004` unquoted."""
    values: dict[str, str] = {}
    words: list[str] = []
    last_bare: str | None = None
    for t in _TOKEN.finditer(text):
        if t.group("word"):
            if last_bare is not None:
                values[last_bare] = f"{values[last_bare]} {t.group('word')}".strip()
            else:
                words.append(t.group("word"))
            continue
        key, value = t.group("key"), t.group("val")
        last_bare = None
        if value[:1] in "\"'" and len(value) > 1 and value[-1] == value[0]:
            value = value[1:-1]
        elif value[:1] in "\"'":  # an unterminated quote: keep what is there
            value = value[1:]
        elif key in _ENCODED or _ARG.fullmatch(key):
            value = _decode(value)
        elif key == "op" and key not in values:
            last_bare = key
        values.setdefault(key, value)
    return values, words


def _decode(value: str) -> str:
    if value in _UNSET or not _HEX.fullmatch(value):
        return value
    return bytes.fromhex(value).decode("utf-8", "replace")


def _ecs(etype: str, v: dict[str, str], enriched: dict[str, str], node: str | None) -> Fields:
    category, types = _ECS_KIND.get(etype, ([], ["info"]))
    uid, auid = _set(v.get("uid")), _set(v.get("auid"))
    actor = _set(enriched.get("AUID")) or _name(auid) or _set(enriched.get("UID")) or _name(uid)
    is_group = etype in _GROUP_TYPES
    # The account the record is about: PAM's acct=, or id= (a uid; ENRICHED translates it as ID=).
    account = _set(v.get("acct")) or (None if is_group else _set(enriched.get("ID")))
    account_id = None if is_group else _set(v.get("id"))
    # Account management: the actor changes someone else's account (ECS user.target); logins and
    # PAM checks are about the account itself.
    actor_id = next((i for i in (auid, uid) if i and i.isdigit()), None)
    if category == ["iam"]:
        user: Fields = {"name": actor, "id": actor_id, "target": {"name": account, "id": account_id}}
    elif account or account_id:
        user = {"name": account, "id": account_id}
    else:
        user = {"name": actor, "id": actor_id}
    user["effective"] = _effective(v, enriched)
    args = _args(etype, v)
    command_line = " ".join(args) if args else _set(v.get("cmd"))
    exe = _set(v.get("exe"))
    addr, laddr = _ip(v.get("addr")), _ip(v.get("laddr"))
    hostname = _set(v.get("hostname"))
    remote = addr is not None and not ipaddress.ip_address(addr).is_loopback
    return {
        "event": {"category": category, "type": types, "action": etype.lower(), "outcome": _outcome(v)},
        "user": user,
        "group": {"id": _set(v.get("id")), "name": _set(enriched.get("ID"))} if is_group else None,
        "process": {
            "pid": _int(v.get("pid")),
            "parent": {"pid": _int(v.get("ppid"))},
            "executable": exe,
            "name": _set(v.get("comm")) or (exe.rsplit("/", 1)[-1] if exe else None),
            "command_line": command_line,
            "args": args,
            "working_directory": _set(v.get("cwd")) if etype in ("USER_CMD", "CWD") else None,
        },
        "file": {"path": _set(v.get("name")) if etype == "PATH" else _set(v.get("path"))},
        "source": {
            "ip": addr,
            "port": _int(v.get("rport")),
            "domain": hostname if remote and hostname != addr else None,
        },  # fmt: skip
        "destination": {"ip": laddr, "port": _int(v.get("lport"))} if laddr else None,
        # hostname= names the remote peer of a login; for local actions it is this host.
        "host": {"name": node or (None if remote or hostname == addr else hostname)},
        "related": {
            "ip": [ip for ip in (addr, laddr) if ip],
            "user": [u for u in dict.fromkeys((user["name"], account, actor)) if u],
        },
    }


def _args(etype: str, v: dict[str, str]) -> list[str]:
    if etype == "PROCTITLE" and (title := _set(v.get("proctitle"))):
        return [a for a in title.split("\x00") if a]
    if etype != "EXECVE":
        return []
    parts: dict[int, list[tuple[int, str]]] = {}
    for key, value in v.items():
        if a := _ARG.fullmatch(key):  # a1[0], a1[1]... are chunks of one long argument
            parts.setdefault(int(a.group(1)), []).append((int(a.group(2) or 0), value))
    return ["".join(chunk for _, chunk in sorted(parts[i])) for i in sorted(parts)]


def _effective(v: dict[str, str], enriched: dict[str, str]) -> Fields | None:
    euid = _set(v.get("euid"))
    if not euid or euid == _set(v.get("uid")):
        return None
    return {"id": euid if euid.isdigit() else None, "name": _set(enriched.get("EUID")) or _name(euid)}


def _outcome(v: dict[str, str]) -> str | None:
    result = (v.get("res") or v.get("result") or v.get("success") or "").lower()
    return "success" if result in _SUCCESS else "failure" if result in _FAILURE else None


def _labels(
    v: dict[str, str], enriched: dict[str, str], seq: str, words: list[str]
) -> tuple[dict[str, str], bool]:
    labels = {"auditd_sequence": seq}
    if key := _set(v.get("key")):
        labels["auditd_key"] = key
    if words:
        labels["auditd_text"] = " ".join(words)
    items = [*v.items(), *((f"enriched_{k.lower()}", val) for k, val in enriched.items())]
    for key, value in items:
        label = "auditd_" + re.sub(r"[^\w]", "_", key).strip("_")
        if label not in labels and value not in ("", "?", "(null)", "(none)"):
            labels[label] = value[:MAX_LABEL_CHARS]
    truncated = len(labels) > MAX_LABELS
    return dict(list(labels.items())[:MAX_LABELS]), truncated


def _set(value: str | None) -> str | None:
    return None if value is None or value in _UNSET else value


def _name(value: str | None) -> str | None:
    """Interpreted records (`ausearch -i`, some forwarders) write names instead of numbers."""
    return value if value and not value.lstrip("-").isdigit() else None


def _ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value and value not in _UNSET else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
