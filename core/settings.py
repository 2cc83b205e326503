"""All runtime settings, read from the environment (prefix ``VIGIL_``) by one factory."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_", env_nested_delimiter="__", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = Field(3, ge=1)
    kafka_replication: int = Field(1, ge=1)
    # A short session keeps consumer-group joins fast (a join takes about half of it).
    kafka_session_timeout_ms: int = 10_000

    es_url: str = "http://127.0.0.1:9200"
    es_shards: int = Field(1, ge=1)
    es_replicas: int = Field(0, ge=0)

    timezone: str = "Asia/Shanghai"
    sources_file: Path | None = None

    normaliser_group: str = "vigil-normaliser"
    indexer_group: str = "vigil-indexer"
    batch_size: int = Field(2000, ge=1)
    # How long the indexer waits to fill a bulk request up to batch_size: Elasticsearch pays per shard
    # a bulk touches, so under load fuller requests cost it less per document (bench/README.md).
    bulk_fill_ms: int = Field(1000, ge=0)
    max_line_bytes: int = Field(64 * 1024, ge=256)

    syslog_host: str = "127.0.0.1"
    syslog_udp_port: int = 5514
    syslog_tcp_port: int = 5514

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        raise ConfigError(f"invalid VIGIL_* setting: {exc}") from exc
