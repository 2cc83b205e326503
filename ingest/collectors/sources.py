"""The sources file (`VIGIL_SOURCES_FILE`): which sender or file is which log source.

```yaml
syslog:
  - peer: 10.1.2.0/24        # an address or a network; the most specific match wins
    source: branch-firewalls
    format: kv_firewall      # default: syslog
    timezone: UTC            # default: VIGIL_TIMEZONE
files:
  - path: /var/log/auth.log  # a path or a glob
    source: web01-auth
    format: syslog           # default: auto
```

Parsed once into typed objects at the edge; a mistake is a `ConfigError` naming the file and the field.
Senders not listed become `syslog-<ip>` with format `syslog`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import ConfigError
from core.names import Category
from ingest.parsers.registry import FORMATS

SourceId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$")]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: SourceId
    format: str = "auto"
    timezone: str | None = None
    category: Category | None = None

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in FORMATS:
            raise ValueError(f"unknown format {value!r}; known: {', '.join(FORMATS)}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class SyslogSource(_Source):
    peer: IpNetwork
    format: str = "syslog"

    @field_validator("peer", mode="before")
    @classmethod
    def _network(cls, value: object) -> IpNetwork:
        try:
            return ipaddress.ip_network(str(value), strict=False)
        except ValueError as exc:
            raise ValueError(f"not an IP address or network: {value!r}") from exc


class FileSource(_Source):
    path: str = Field(min_length=1, description="absolute path or glob")

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not Path(value).is_absolute():
            raise ValueError(f"file source paths must be absolute (the working directory varies): {value!r}")
        return value


class SourcesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    syslog: tuple[SyslogSource, ...] = ()
    files: tuple[FileSource, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> SourcesConfig:
        peers = [str(s.peer) for s in self.syslog]
        if len(peers) != len(set(peers)):
            raise ValueError(f"a syslog peer is listed twice: {sorted(p for p in peers if peers.count(p) > 1)}")
        paths = [f.path for f in self.files]
        if len(paths) != len(set(paths)):
            raise ValueError(f"a file path is listed twice: {sorted(p for p in paths if paths.count(p) > 1)}")
        return self

    def for_peer(self, host: str) -> SyslogSource:
        """The source of a sender: the most specific configured network holding it, else `syslog-<ip>`."""
        address = ipaddress.ip_address(host)  # sockets report numeric addresses
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped  # dual-stack sockets report IPv4 senders as ::ffff:a.b.c.d
        matches = [s for s in self.syslog if s.peer.version == address.version and address in s.peer]
        if matches:
            return max(matches, key=lambda s: s.peer.prefixlen)
        return SyslogSource(peer=ipaddress.ip_network(address), source=f"syslog-{address}")


def load_sources(path: Path | None) -> SourcesConfig:
    """The sources file, or an empty configuration when none is set."""
    if path is None:
        return SourcesConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the sources file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"the sources file {path} is not valid YAML: {exc}") from exc
    try:
        return SourcesConfig.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(top level)'}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"invalid sources file {path}: {problems}") from exc
