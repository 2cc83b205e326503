"""Shared fixtures. The `stack` fixture starts a real Kafka broker and Elasticsearch node
on free 127.0.0.1 ports (same code as `vigil stack up`) once per test session."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings, default_rule_dirs
from detectors.sigma import SigmaEngine
from stack.local import LocalStack, StackConfig
from tests.datasets import dataset
from tests.support.receivers import (  # noqa: F401
    https_webhook_receiver,
    smtp_receiver,
    smtp_receiver_factory,
    test_ca,
    webhook_receiver,
)


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    data_dir = Path(tempfile.mkdtemp(prefix="vigil-test-stack-"))
    local = LocalStack(StackConfig.ephemeral(data_dir))
    local.up()
    try:
        yield local
    finally:
        local.down()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def settings(stack: LocalStack, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings pointing at the test stack, with consumer groups unique to the test."""
    name = request.node.name.replace("[", "-").replace("]", "")[:60]
    return Settings(
        kafka_bootstrap=stack.config.kafka_bootstrap,
        es_url=stack.config.es_url,
        data_dir=tmp_path,
        normaliser_group=f"norm-{name}",
        indexer_group=f"idx-{name}",
        kafka_session_timeout_ms=10_000,
    )


@pytest.fixture(scope="session")
def full_engine() -> SigmaEngine:
    """Vigil's rule pack and every SigmaHQ rule of the shared datasets, as `Settings().sigma_rule_dirs`
    loads them, compiled once per session (it takes a while)."""
    dataset("sigma")  # skips without the shared datasets (the pack alone would load)
    return SigmaEngine.from_paths(default_rule_dirs())
