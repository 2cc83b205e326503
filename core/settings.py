"""All runtime settings, read from the environment (prefix ``VIGIL_``) by one factory."""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError

# Vigil's own Sigma rules, shipped in the package (pyproject package-data): the SigmaHQ gaps measured on
# real attack recordings (docs/attack-coverage.md). Subfolders (correlation/) are loaded too.
VIGIL_RULES = Path(__file__).resolve().parents[1] / "detectors" / "rules" / "vigil"

# Policy rule 1: run logs and user logs are kept at least 60 days. A floor, not a default to lower.
RETENTION_FLOOR_DAYS = 60


def check_retention_floor(scope: str, days: int) -> int:
    if days < RETENTION_FLOOR_DAYS:
        raise ValueError(
            f"retention for {scope!r} is {days} days, below the {RETENTION_FLOOR_DAYS}-day floor "
            f"(the policy keeps logs at least {RETENTION_FLOOR_DAYS} days): set {RETENTION_FLOOR_DAYS} or more"
        )
    return days


class RetentionPolicy(BaseModel):
    """Days kept per retention scope (`core.names.RetentionScope`), each at least the floor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: int = RETENTION_FLOOR_DAYS
    system: int = RETENTION_FLOOR_DAYS
    user: int = RETENTION_FLOOR_DAYS
    deadletter: int = RETENTION_FLOOR_DAYS

    @field_validator("network", "system", "user", "deadletter")
    @classmethod
    def _floor(cls, value: int, info: ValidationInfo) -> int:
        return check_retention_floor(str(info.field_name), value)

    def days(self, scope: str) -> int:
        return int(getattr(self, str(scope)))


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
    # How long the indexer waits to fill a bulk request up to batch_size: Elasticsearch pays per shard
    # a bulk touches, so under load fuller requests cost it less per document (bench/README.md).
    bulk_fill_ms: int = Field(default=1000, ge=0)
    max_line_bytes: int = Field(default=64 * 1024, ge=256)
    # The integrity ledger (core/ledger.py): the indexer records each batch's document digests in vigil-ledger.
    ledger: bool = True

    # Detection (issue 3): the stream worker, the alert store and the alerting rules they share.
    detectors_group: str = "vigil-detectors"
    # The global lane (per-IP, per-host, per-source state over every partition), its own group.
    detectors_global_group: str = "vigil-detectors-global"
    inventory_file: Path | None = None  # YAML/CSV entity inventory; else `vigil-entities`; else empty
    policy_file: Path | None = None  # policy detector thresholds (YAML); else the defaults
    correlation_allowance_s: float = Field(default=300, ge=0, description="late events a correlation window accepts")
    alerts_group: str = "vigil-alert-store"
    # VIGIL_RULES_DIR: Vigil's rule pack elsewhere (a site's edited copy); VIGIL_SIGMA_RULE_DIRS replaces every dir.
    rules_dir: Path = VIGIL_RULES
    sigma_rule_dirs: list[Path] = Field(default_factory=lambda data: default_rule_dirs(data["rules_dir"]))
    alert_suppression_s: float = Field(default=600, ge=0, description="repeats of a rule+entity inside it merge")
    alert_suppression_by_rule: dict[str, float] = Field(default_factory=dict)
    alert_rate_cap: int = Field(default=100, ge=1, description="new alerts per rule per window before one flood alert")
    alert_rate_window_s: float = Field(default=3600, gt=0)
    alert_max_event_ids: int = Field(default=100, ge=1)
    alert_lateness_s: float = Field(default=300, ge=0)
    # After a poll's first alert the alert store keeps polling this long to fill one bulk: Elasticsearch
    # pays per bulk request and per refresh, hardly per alert in it (bench/README.md, fifth pass).
    alert_store_fill_ms: int = Field(default=50, ge=0)
    detector_tick_s: float = Field(default=2.0, gt=0, description="how often detectors are ticked and merges emitted")
    checkpoint_interval_s: float = Field(default=5.0, ge=0, description="0: checkpoint and commit after every batch")
    rule_state_refresh_s: float = Field(default=30.0, gt=0, description="how often workers re-read vigil-rule-state")
    # Scheduled hunts (detectors/hunt/schedule.py): lookback defaults to interval + overlap, never < interval.
    hunt_interval_s: float = Field(default=300, gt=0)
    hunt_overlap_s: float = Field(default=120, ge=0)
    hunt_lookback_s: float | None = Field(default=None, gt=0)
    # Hunt jobs (POST /hunts, api/hunt_jobs.py): run in the API process, a few at a time; each writes its
    # progress and a heartbeat every `hunt_job_heartbeat_s`; one silent for `hunt_job_stale_s` reads as failed.
    hunt_jobs_max_running: int = Field(default=2, ge=1)
    hunt_job_page_size: int = Field(default=1000, ge=1, le=10_000)
    hunt_job_heartbeat_s: float = Field(default=5.0, gt=0)
    hunt_job_stale_s: float = Field(default=120.0, gt=0, validate_default=True)

    syslog_host: str = "127.0.0.1"
    syslog_udp_port: int = 5514
    syslog_tcp_port: int = 5514
    # Collectors flush to Kafka on this beat (and before each tailer checkpoint), never per message.
    collect_flush_interval_s: Annotated[float, Field(gt=0)] = 0.5
    tail_poll_interval_s: Annotated[float, Field(gt=0)] = 0.25
    # A file renamed away is still read until it has not been written for this long (daemons reopen late).
    tail_rotate_grace_s: Annotated[float, Field(ge=0)] = 1.0

    # VIGIL_RETENTION__NETWORK=90 ...; a YAML file (VIGIL_RETENTION_FILE), when set, replaces it.
    retention: RetentionPolicy = Field(default_factory=RetentionPolicy)
    retention_file: Path | None = None
    archive_dir: Path | None = None  # retention archives; default <data_dir>/archive
    retention_archive: bool = False  # archive each daily index before deleting it (scheduled runs)
    # The scheduler role's daily jobs (core/daily_runs.py), local times; each runs once per day.
    retention_run_at: time = time(2, 0)
    integrity_verify_at: time = time(3, 0)  # verifies the previous UTC day against the ledger
    scheduler_tick_s: float = Field(default=60, gt=0)
    scheduler_catch_up_days: int = Field(default=7, ge=0, description="missed days run once after downtime")
    scheduler_stale_run_s: float = Field(default=6 * 3600, gt=0, description="a run 'running' this long crashed")

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    tokens_file: Path | None = None
    # One POST /ingest batch; larger batches get 413 (the client splits them).
    api_max_body_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024 * 1024
    api_max_page_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    api_kafka_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    # Web console (api/console): users with hashed passwords, sessions signed with this secret
    # (unset: a random one kept in <data_dir>/console-secret, mode 0600).
    users_file: Path | None = None
    console_secret: str | None = Field(default=None, min_length=32)
    console_session_hours: Annotated[float, Field(gt=0, le=24 * 7)] = 12.0

    # Response (issue 4): the playbook engine, its playbooks, the duty roster, notify channels, contain actions.
    playbooks_group: str = "vigil-playbooks"
    # Alerts per poll of the playbooks worker: each may start a playbook, so fewer than the detectors take.
    playbook_batch_size: int = Field(default=200, ge=1)
    playbooks_dir: Path | None = None  # else the bundled playbooks (playbooks/files)
    roster_file: Path | None = None  # duty roster YAML; else one around-the-clock duty desk
    notify_file: Path | None = None  # notify channels YAML (playbooks.notify.NotifyConfig)
    playbook_actions_file: Path | None = None  # containment webhooks and commands (playbooks.actions)
    playbook_tick_s: Annotated[float, Field(gt=0)] = 1.0  # how often due timers are looked for
    console_url: str | None = None  # links in notifications: <console_url>/incidents/<id>

    @field_validator("hunt_job_stale_s")
    @classmethod
    def _stale_after_heartbeats(cls, stale: float, info: ValidationInfo) -> float:
        # A job is judged dead on its heartbeats: a window under a few of them fails live jobs.
        beat = info.data.get("hunt_job_heartbeat_s")  # absent when it failed its own check
        if beat is not None and stale < 3 * beat:
            raise ValueError(f"must be at least 3 heartbeats (3 x hunt_job_heartbeat_s = {3 * beat:g} s), "
                             f"not {stale:g}")
        return stale

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

    def archive_path(self) -> Path:
        return self.archive_dir or self.data_dir / "archive"

    def tokens_path(self) -> Path:
        """Where API tokens (hashed) live: `VIGIL_TOKENS_FILE`, else `<data_dir>/tokens.yaml`."""
        return self.tokens_file or self.data_dir / "tokens.yaml"

    def users_path(self) -> Path:
        """Console users (scrypt-hashed passwords): `VIGIL_USERS_FILE`, else `<data_dir>/users.yaml`."""
        return self.users_file or self.data_dir / "users.yaml"

    def checkpoint_dir(self) -> Path:
        path = self.data_dir / "checkpoints"
        path.mkdir(parents=True, exist_ok=True)
        return path


def default_rule_dirs(vigil: Path = VIGIL_RULES) -> list[Path]:
    """Vigil's rule pack first, then the SigmaHQ folders of `../shared/datasets/sigma` beside the
    repository: those that exist (an installed image has only the pack)."""
    root = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "sigma"
    names = ("rules", "rules-threat-hunting", "rules-emerging-threats")
    return [d for d in (vigil, *(root / name for name in names)) if d.is_dir()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        raise ConfigError(f"invalid VIGIL_* setting: {exc}") from exc
