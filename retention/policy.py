"""The retention policy: days per scope, read from the settings or a YAML file, never below the floor."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from core.errors import ConfigError, RetentionError
from core.names import RetentionScope
from core.settings import RetentionPolicy, Settings, check_retention_floor


def load_policy(settings: Settings) -> RetentionPolicy:
    """The YAML file (`VIGIL_RETENTION_FILE`) when set, else `VIGIL_RETENTION__<SCOPE>` settings.

    The file holds one mapping of scope → days, e.g. ``{network: 90, system: 60, user: 180}``;
    scopes left out keep the floor.
    """
    if settings.retention_file is None:
        return enforce_floor(settings.retention)
    return enforce_floor(load_policy_file(settings.retention_file))


def load_policy_file(path: Path) -> RetentionPolicy:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"retention file {path}: {exc}") from exc
    try:
        return RetentionPolicy.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"retention file {path}: {details}") from exc


def enforce_floor(policy: RetentionPolicy) -> RetentionPolicy:
    """Check every scope again: a policy built with `model_construct` or mutated skips the validators,
    and the job must never delete under the floor whatever it was handed."""
    for scope in RetentionScope:
        try:
            check_retention_floor(scope.value, policy.days(scope))
        except ValueError as exc:
            raise RetentionError(str(exc)) from exc
    return policy
