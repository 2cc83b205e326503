"""The window settings the sliding-window policy detectors share (`WindowedConfig`): every default and
YAML key as before the shared base, and bad settings refused where the file is read, naming field and line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from detectors.inventory import InventoryError
from detectors.policy import PolicyConfig, build_policy_detectors, load_policy_config
from detectors.policy.mail import MailDetector
from detectors.policy.window import SECOND, WindowedConfig, WindowSpec
from tests.unit.policy_support import sample_index

MIN = timedelta(minutes=1)
# (section, window, lateness) as each detector declared them before the shared base.
DEFAULTS = [
    ("brute_force", 10 * MIN, 2 * MIN),
    ("mass_copy", 10 * MIN, 5 * MIN),
    ("removable", 10 * MIN, 5 * MIN),
    ("mail", 60 * MIN, 10 * MIN),
    ("upload", 60 * MIN, 10 * MIN),
]


def policy(tmp_path: Path, text: str) -> PolicyConfig:
    path = tmp_path / "policy.yml"
    path.write_text(text, encoding="utf-8")
    return load_policy_config(path)


@pytest.mark.parametrize(("section", "window", "lateness"), DEFAULTS)
def test_each_detector_keeps_its_defaults(section: str, window: timedelta, lateness: timedelta) -> None:
    cfg = getattr(PolicyConfig(), section)
    assert isinstance(cfg, WindowedConfig)
    assert (cfg.window, cfg.lateness, cfg.resolution) == (window, lateness, SECOND)
    assert cfg.spec == WindowSpec(window, lateness, SECOND)


def test_the_detectors_bin_with_their_configs_spec(tmp_path: Path) -> None:
    cfg = policy(tmp_path, "mail:\n  window: PT30M\n  lateness: PT1M\n  resolution: PT5S\n")
    [mail] = [d for d in build_policy_detectors(sample_index(), cfg) if isinstance(d, MailDetector)]
    assert mail._spec == WindowSpec(30 * MIN, MIN, timedelta(seconds=5))


def test_window_keys_in_yaml_as_before(tmp_path: Path) -> None:
    cfg = policy(tmp_path, "brute_force:\n  window: PT5M\n  lateness: PT3S\n  resolution: PT2S\n  failures: 3\n"
                           "upload:\n  lateness: PT0S\n")  # fmt: skip
    bf = cfg.brute_force
    assert (bf.window, bf.lateness, bf.resolution, bf.failures) == (5 * MIN, timedelta(seconds=3), 2 * SECOND, 3)
    assert cfg.upload.lateness == timedelta(0) and cfg.upload.window == 60 * MIN  # zero lateness is allowed
    assert cfg.mail == PolicyConfig().mail  # an absent section keeps every default


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "brute_force:\n  failures: 3\n  resolution: PT0S\n",
            r"policy\.yml:3: field brute_force\.resolution: .*positive",
        ),
        (
            "mail:\n  window: PT1S\n  resolution: PT5S\n",
            r":3: field mail\.resolution: .*5 s is longer than the window \(1 s\)",
        ),
        ("upload:\n  lateness: -PT1M\n", r":2: field upload\.lateness: .*must not be negative, not -60 s"),
        ("mass_copy:\n  window: PT0S\n", r":2: field mass_copy\.window: .*must be positive"),
        # the default 1 s resolution must fit a shorter window too
        ("removable:\n  window: PT0.5S\n", r"field removable\.resolution: .*1 s is longer than the window \(0\.5 s\)"),
    ],
)
def test_bad_window_settings_are_refused_with_field_and_line(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(InventoryError, match=error):
        policy(tmp_path, text)


def test_resolution_equal_to_the_window_is_allowed(tmp_path: Path) -> None:
    assert policy(tmp_path, "mail:\n  window: PT10S\n  resolution: PT10S\n").mail.spec.resolution == 10 * SECOND
