"""The notification channels file (YAML), parsed once into typed channels.

```yaml
channels:
  duty-mail: {type: smtp, host: smtp.corp.example, security: starttls, username: vigil,
              password: "${VIGIL_SMTP_PASSWORD}", from: "Vigil 安全值班 <vigil@corp.example>",
              recipients: [soc@corp.example]}
  soc-wecom: {type: webhook, format: wecom, url: "${VIGIL_WECOM_URL}"}
  soc-dingtalk: {type: webhook, format: dingtalk, url: "${VIGIL_DINGTALK_URL}", secret: "${VIGIL_DINGTALK_SECRET}"}
  log: {type: console}
```
A channel's `name` is its key. `${NAME}` is replaced by the environment variable NAME, so credentials stay out of
the file; an unset variable is an error naming the file and the field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import ConfigError
from playbooks.notify.console import ConsoleChannel
from playbooks.notify.smtp import SmtpChannel
from playbooks.notify.webhook import WebhookChannel

Channel = Annotated[SmtpChannel | WebhookChannel | ConsoleChannel, Field(discriminator="type")]
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class NotifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: dict[str, Channel] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("channels"), dict):
            channels = {}
            for key, channel in data["channels"].items():
                if isinstance(channel, dict) and channel.setdefault("name", key) != key:
                    raise ValueError(f"channel {key!r} has name {channel['name']!r}: the name is the key")
                channels[key] = channel
            data = {**data, "channels": channels}
        return data

    def channel(self, name: str) -> SmtpChannel | WebhookChannel | ConsoleChannel:
        try:
            return self.channels[name]
        except KeyError:
            raise ConfigError(f"no notification channel {name!r}; configured: {', '.join(self.channels)}") from None

    @classmethod
    def load(cls, path: Path | str) -> NotifyConfig:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            root = yaml.compose(text)
            data = yaml.safe_load(text) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read the notification channels file {path}: {exc}") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ConfigError(f"{path}:{mark.line + 1 if mark else 1}: not valid YAML: {exc}") from exc
        try:
            return cls.model_validate(_expand(data, (), path, root))
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"]) or "(top level)"
            raise ConfigError(f"{path}:{_line(root, error['loc'])}: field {field}: {error['msg']}") from exc


def _expand(value: Any, loc: tuple[str | int, ...], path: Path, root: yaml.Node | None) -> Any:
    """`${NAME}` in every string replaced from the environment."""
    if isinstance(value, dict):
        return {k: _expand(v, (*loc, k), path, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*loc, i), path, root) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def variable(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            field = ".".join(str(p) for p in loc)
            raise ConfigError(f"{path}:{_line(root, loc)}: field {field}: environment variable {name} is not set")
        return os.environ[name]

    return _VARIABLE.sub(variable, value)


def _line(node: yaml.Node | None, loc: Sequence[int | str]) -> int:
    """The 1-based line of the deepest YAML node on `loc`; parts that are not in the file (pydantic's
    discriminator tags) are skipped."""
    line = node.start_mark.line + 1 if node else 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
            mark = next((k.start_mark for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            mark = child.start_mark
        if child is None or mark is None:
            continue
        node, line = child, mark.line + 1
    return line
