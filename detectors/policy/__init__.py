"""Vigil's policy detectors: the organisation's regulations (DESIGN.md "The policy it encodes") as
stateful stream detectors. `build_policy_detectors` is the one explicit list; nothing registers
itself on import."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from detectors.base import Detector
from detectors.inventory import EntityIndex, load_yaml_model
from detectors.policy.access import AccessConfig, UnauthorizedAccessDetector
from detectors.policy.anomaly import FirstSeenConfig, FirstSeenDetector, SpikeConfig, VolumeSpikeDetector
from detectors.policy.brute_force import BruteForceConfig, BruteForceDetector
from detectors.policy.mail import MailConfig, MailDetector
from detectors.policy.mass_copy import MassCopyConfig, MassCopyDetector
from detectors.policy.removable import RemovableConfig, RemovableMediaDetector
from detectors.policy.sessions import BorrowedAccountDetector, BorrowedConfig, IpUseConfig, IpUseDetector
from detectors.policy.upload import ProxyUploadDetector, UploadConfig
from detectors.policy.violations import PolicyViolationDetector, ViolationsConfig


class PolicyConfig(BaseModel):
    """Every policy detector's thresholds in one document; a misspelt section is an error, not a default."""

    model_config = ConfigDict(extra="forbid")

    access: AccessConfig = Field(default_factory=AccessConfig)
    brute_force: BruteForceConfig = Field(default_factory=BruteForceConfig)
    ip_use: IpUseConfig = Field(default_factory=IpUseConfig)
    borrowed: BorrowedConfig = Field(default_factory=BorrowedConfig)
    mass_copy: MassCopyConfig = Field(default_factory=MassCopyConfig)
    removable: RemovableConfig = Field(default_factory=RemovableConfig)
    mail: MailConfig = Field(default_factory=MailConfig)
    upload: UploadConfig = Field(default_factory=UploadConfig)
    spike: SpikeConfig = Field(default_factory=SpikeConfig)
    first_seen: FirstSeenConfig = Field(default_factory=FirstSeenConfig)
    violations: ViolationsConfig = Field(default_factory=ViolationsConfig)


def load_policy_config(path: Path) -> PolicyConfig:
    """Thresholds from YAML (`brute_force: {failures: 5, window: PT10M}`); errors name file, line, field."""
    config, _ = load_yaml_model(path, PolicyConfig)
    return config


def build_policy_detectors(index: EntityIndex, config: PolicyConfig | None = None) -> list[Detector]:
    cfg = config or PolicyConfig()
    return [
        UnauthorizedAccessDetector(index, cfg.access),
        BruteForceDetector(cfg.brute_force),
        IpUseDetector(index, cfg.ip_use),
        BorrowedAccountDetector(index, cfg.borrowed),
        MassCopyDetector(cfg.mass_copy),
        RemovableMediaDetector(cfg.removable),
        MailDetector(cfg.mail),
        ProxyUploadDetector(cfg.upload),
        VolumeSpikeDetector(cfg.spike),
        FirstSeenDetector(cfg.first_seen),
        PolicyViolationDetector(cfg.violations),
    ]
