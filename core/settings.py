"""All runtime settings, read from the environment (prefix ``VIGIL_``) by one factory."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_", env_nested_delimiter="__", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = Field(default=3, ge=1)
    kafka_replication: int = Field(default=1, ge=1)
    # A short session keeps consumer-group joins fast (a join takes about half of it).
    kafka_session_timeout_ms: int = 10_000

    es_url: str = "http://127.0.0.1:9200"
    es_shards: int = Field(default=1, ge=1)
    es_replicas: int = Field(default=0, ge=0)

    timezone: str = "Asia/Shanghai"
    sources_file: Path | None = None

    normaliser_group: str = "vigil-normaliser"
    indexer_group: str = "vigil-indexer"
    batch_size: int = Field(default=2000, ge=1)
    max_line_bytes: int = Field(default=64 * 1024, ge=256)

    # Detection (issue 3): the stream worker, the alert store and the alerting rules they share.
    detectors_group: str = "vigil-detectors"
    alerts_group: str = "vigil-alert-store"
    sigma_rule_dirs: list[Path] = Field(default_factory=lambda: default_rule_dirs())
    alert_suppression_s: float = Field(default=600, ge=0, description="repeats of a rule+entity inside it merge")
    alert_suppression_by_rule: dict[str, float] = Field(default_factory=dict)
    alert_rate_cap: int = Field(default=100, ge=1, description="new alerts per rule per window before one flood alert")
    alert_rate_window_s: float = Field(default=3600, gt=0)
    alert_max_event_ids: int = Field(default=100, ge=1)
    alert_lateness_s: float = Field(default=300, ge=0)
    detector_tick_s: float = Field(default=2.0, gt=0, description="how often detectors are ticked and merges emitted")
    checkpoint_interval_s: float = Field(default=5.0, ge=0, description="0: checkpoint and commit after every batch")
    # Scheduled hunts (detectors/hunt/schedule.py): lookback defaults to interval + overlap, never < interval.
    hunt_interval_s: float = Field(default=300, gt=0)
    hunt_overlap_s: float = Field(default=120, ge=0)
    hunt_lookback_s: float | None = Field(default=None, gt=0)

    syslog_host: str = "127.0.0.1"
    syslog_udp_port: int = 5514
    syslog_tcp_port: int = 5514
    # Collectors flush to Kafka on this beat (and before each tailer checkpoint), never per message.
    collect_flush_interval_s: Annotated[float, Field(gt=0)] = 0.5
    tail_poll_interval_s: Annotated[float, Field(gt=0)] = 0.25
    # A file renamed away is still read until it has not been written for this long (daemons reopen late).
    tail_rotate_grace_s: Annotated[float, Field(ge=0)] = 1.0

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    tokens_file: Path | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def checkpoint_dir(self) -> Path:
        path = self.data_dir / "checkpoints"
        path.mkdir(parents=True, exist_ok=True)
        return path


def default_rule_dirs() -> list[Path]:
    """The SigmaHQ folders of `../shared/datasets/sigma` beside the repository, those that exist."""
    root = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "sigma"
    names = ("rules", "rules-threat-hunting", "rules-emerging-threats")
    return [root / name for name in names if (root / name).is_dir()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        raise ConfigError(f"invalid VIGIL_* setting: {exc}") from exc
