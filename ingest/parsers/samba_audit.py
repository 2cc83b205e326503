"""Samba vfs_full_audit (dataset samba.full_audit): who touched which file on which share.

A record is `<prefix>|<op>|ok|<args...>` or `...|<op>|fail (<reason>)|...`; the prefix is the admin's
`full_audit:prefix` (Samba's default `%u|%I`, often `%u|%I|%S`), so its fields are named by configuration
(`prefix_fields`) and located by finding the status column, not by counting from the left.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from datetime import UTC
from typing import TYPE_CHECKING, Any

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.names import Category
from ingest.parsers.base import ParseContext, build_event

if TYPE_CHECKING:
    from ingest.parsers.syslog import SyslogHeader

Fields = dict[str, Any]

PROGRAMS = ("smbd_audit", "smbd_full_audit", "full_audit")
SNIFF = re.compile(r"^(?:smbd_audit: )?[^|\s]*\|[^|]*\|(?:[^|]*\|)?\w+\|(?:ok|fail(?: \([^)]*\))?)(?:\||$)")
DEFAULT_PREFIX_FIELDS: tuple[str, ...] = ("user", "ip", "share")  # `full_audit:prefix = %u|%I|%S`

_STATUS = re.compile(r"ok|fail(?: \((?P<reason>[^)]*)\))?")
_TYPES = {
    "creation": {"mkdir", "mkdirat", "symlink", "symlinkat", "link", "linkat", "mknod", "mknodat"},
    "deletion": {"unlink", "unlinkat", "rmdir"},
    "change": {"pwrite", "write", "rename", "renameat", "ftruncate", "fallocate", "chmod", "fchmod", "chown",
               "fchown", "lchown", "ntimes", "fntimes", "setxattr", "fsetxattr", "removexattr",
               "fremovexattr", "fset_nt_acl", "set_nt_acl", "fset_dos_attributes", "set_dos_attributes"},
    "access": {"open", "openat", "opendir", "fdopendir", "pread", "read", "sendfile", "readdir", "get_nt_acl",
               "fget_nt_acl", "getxattr", "fgetxattr", "stat", "fstat", "lstat", "fstatat", "chdir",
               "realpath", "create_file", "close", "copy_chunk", "offload_read", "offload_write"},
}  # fmt: skip
_SESSION = {"connect": "start", "disconnect": "end"}


def samba_fields(hdr: SyslogHeader) -> Fields | None:
    return audit_fields(hdr.message)


def parse_samba_audit(
    raw: str, ctx: ParseContext, prefix_fields: tuple[str, ...] = DEFAULT_PREFIX_FIELDS
) -> EcsEvent:
    """A bare full_audit record (`smbd_audit: alice|10.0.0.5|pread|ok|/srv/x`) without a syslog header.

    It carries no time of its own, so the event is stamped with ctx.received_at and tagged as such.
    """
    fields = audit_fields(raw.strip(), prefix_fields)
    if fields is None:
        raise ParseError(
            "not a Samba full_audit record: expected 'prefix|operation|ok|args' or '...|fail (reason)|...'"
        )
    fields["tags"] = ["timestamp_from_received_at"]
    received = ctx.received_at if ctx.received_at.tzinfo else ctx.received_at.replace(tzinfo=UTC)
    return build_event(ctx, parser="samba_audit", category=Category.USER, timestamp=received, raw=raw,
                       dataset="samba.full_audit", message=raw.strip(), **fields)  # fmt: skip


def audit_fields(message: str, prefix_fields: tuple[str, ...] = DEFAULT_PREFIX_FIELDS) -> Fields | None:
    parts = message.removeprefix("smbd_audit: ").split("|")
    at = next((i for i in range(1, len(parts)) if _STATUS.fullmatch(parts[i])), None)
    if at is None:
        return None
    op, args, status = parts[at - 1], parts[at + 1:], _STATUS.fullmatch(parts[at])
    prefix = dict(zip(prefix_fields, parts[: at - 1], strict=False))
    base = op.removesuffix("_send").removesuffix("_recv")
    user, ip, share = prefix.get("user") or None, _ip(prefix.get("ip")), prefix.get("share") or None
    labels: dict[str, str] = {}
    path, original = _paths(base, args, labels)
    if base in _SESSION:
        category, etype = "session", _SESSION[base]
        share = share or (args[0] if args else None)
    else:
        category = "file"
        etype = next((t for t, ops in _TYPES.items() if base in ops), "info")
        if base in ("open", "openat") and labels.get("file_open_mode") == "w":
            etype = "change"
        if base == "create_file" and labels.get("create_disposition") in ("create", "overwrite", "supersede"):
            etype = "creation"
    if share:
        labels["share"] = share
    if original:
        labels["file_original_path"] = original
    return {
        "event": {"category": [category], "type": [etype], "action": op, "outcome": _outcome(status),
                  "reason": status.group("reason") if status else None},  # fmt: skip
        "user": {"name": user} if user else None,
        "source": {"ip": ip, "address": prefix.get("ip")} if ip else None,
        "file": _file(path) if path else None,
        "labels": labels,
        "related": {"ip": [ip] if ip else [], "user": [user] if user else []},
    }


def _paths(op: str, args: list[str], labels: dict[str, str]) -> tuple[str | None, str | None]:
    """(file path, original path for renames) from the operation's arguments; fills op-specific labels."""
    if op in ("open", "openat") and len(args) >= 2 and args[0] in ("r", "w"):
        labels["file_open_mode"] = args[0]
        return args[-1] or None, None
    if op == "create_file" and len(args) >= 4:  # access mask | file/dir | disposition | path
        labels.update({"access_mask": args[0], "create_disposition": args[2]})
        return args[3] or None, None
    if op in ("rename", "renameat") and len(args) >= 2:
        return args[1] or None, args[0] or None  # ECS: file.path is the new name
    if op in _SESSION:
        return None, None
    paths = [a for a in args if a.startswith(("/", ".")) or "/" in a]
    return (paths[-1] if paths else args[-1] if args else None), None


def _file(path: str) -> Fields:
    name = posixpath.basename(path.rstrip("/")) or path
    directory = posixpath.dirname(path.rstrip("/"))
    ext = posixpath.splitext(name)[1].lstrip(".")
    return {"path": path, "name": name, "directory": directory or None, "extension": ext or None}


def _outcome(status: re.Match[str] | None) -> str | None:
    if status is None:
        return None
    return "success" if status.group(0) == "ok" else "failure"


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
