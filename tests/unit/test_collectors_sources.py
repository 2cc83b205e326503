"""The sources file: typed at the edge, every mistake named with its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from ingest.collectors.sources import SourcesConfig, load_sources

GOOD = """
syslog:
  - peer: 10.1.0.0/16
    source: branch
  - peer: 10.1.2.3
    source: fw01
    format: kv_firewall
    timezone: UTC
    category: network
files:
  - path: /var/log/auth.log
    source: web01-auth
    format: syslog
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yml"
    path.write_text(text)
    return path


def test_most_specific_network_wins_and_unknown_peers_get_a_default(tmp_path: Path) -> None:
    sources = load_sources(write(tmp_path, GOOD))
    fw = sources.for_peer("10.1.2.3")
    assert (fw.source, fw.format, fw.timezone, fw.category) == ("fw01", "kv_firewall", "UTC", "network")
    assert sources.for_peer("10.1.9.9").source == "branch"
    assert sources.for_peer("::ffff:10.1.2.3").source == "fw01"  # IPv4 sender on a dual-stack socket
    other = sources.for_peer("192.0.2.7")
    assert (other.source, other.format, other.timezone) == ("syslog-192.0.2.7", "syslog", None)
    assert sources.files[0].format == "syslog"


def test_no_sources_file_means_defaults_only() -> None:
    assert load_sources(None) == SourcesConfig()
    assert load_sources(None).for_peer("127.0.0.1").source == "syslog-127.0.0.1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("syslog:\n  - peer: not-an-ip\n    source: a\n", "syslog.0.peer: Value error, not an IP address"),
        ("syslog:\n  - peer: 10.0.0.1\n    source: a\n    format: nope\n", "unknown format 'nope'"),
        ("syslog:\n  - peer: 10.0.0.1\n    source: a\n    timezone: Mars/Base\n", "unknown time zone 'Mars/Base'"),
        ("syslog:\n  - peer: 10.0.0.1\n    source: 'has space'\n", "syslog.0.source: String should match"),
        ("syslog:\n  - peer: 10.0.0.1\n    source: a\n  - peer: 10.0.0.1/32\n    source: b\n", "listed twice"),
        ("files:\n  - path: relative.log\n    source: a\n", "must be absolute"),
        ("files:\n  - path: /x.log\n    source: a\n    colour: red\n", "files.0.colour: Extra inputs"),
        ("sylog: []\n", "sylog: Extra inputs are not permitted"),
        ("syslog: [\n", "not valid YAML"),
    ],
)
def test_mistakes_are_config_errors_naming_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="sources") as caught:
        load_sources(write(tmp_path, text))
    assert message in str(caught.value)


def test_missing_sources_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the sources file"):
        load_sources(tmp_path / "absent.yml")
