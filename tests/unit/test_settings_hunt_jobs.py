"""A hunt job is judged dead on missed heartbeats, so the settings refuse a stale window of under three."""

import pytest
from pydantic import ValidationError

from core.settings import Settings


def test_the_stale_window_must_span_three_heartbeats() -> None:
    assert Settings(hunt_job_heartbeat_s=10, hunt_job_stale_s=30).hunt_job_stale_s == 30
    with pytest.raises(ValidationError, match="at least 3 heartbeats"):
        Settings(hunt_job_heartbeat_s=10, hunt_job_stale_s=29)


def test_a_slower_heartbeat_is_checked_against_the_default_stale_window() -> None:
    with pytest.raises(ValidationError, match="150 s"):
        Settings(hunt_job_heartbeat_s=50)
