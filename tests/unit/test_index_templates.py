"""The small Vigil indices get their replicas and mappings from core, not Elasticsearch's defaults."""

from __future__ import annotations

from typing import Any

import pytest

from core.index_templates import install_entities_template, install_rule_state_template, install_templates
from core.names import ENTITIES_INDEX, RULE_STATE_INDEX
from core.settings import Settings


class RecordingIndices:
    """`es.indices` as far as the installers use it: the templates they put, by name."""

    def __init__(self) -> None:
        self.templates: dict[str, dict[str, Any]] = {}

    def put_index_template(self, *, name: str, **body: Any) -> None:
        self.templates[name] = body


class RecordingEs:
    def __init__(self) -> None:
        self.indices = RecordingIndices()


@pytest.mark.parametrize(
    ("install", "index", "mapped"),
    [(install_rule_state_template, RULE_STATE_INDEX, "changed_at"), (install_entities_template, ENTITIES_INDEX,
                                                                    "entity_kind")],
)  # fmt: skip
def test_small_index_templates_take_replicas_from_settings(install: Any, index: str, mapped: str) -> None:
    for replicas in (0, 2):
        es = RecordingEs()
        install(es, Settings(es_replicas=replicas))
        (body,) = es.indices.templates.values()
        assert index in body["index_patterns"] and body["priority"] == 500
        assert body["template"]["settings"] == {"number_of_shards": 1, "number_of_replicas": replicas}
        assert mapped in body["template"]["mappings"]["properties"]


def test_entities_template_covers_copies_beside_the_inventory() -> None:
    es = RecordingEs()
    install_entities_template(es, Settings())
    assert es.indices.templates["vigil-entities"]["index_patterns"] == [ENTITIES_INDEX, f"{ENTITIES_INDEX}-*"]
    assert es.indices.templates["vigil-entities"]["template"]["mappings"]["date_detection"] is False


def test_the_start_up_install_includes_them() -> None:
    """The indexer and the alert store install every template at start: whoever creates these first."""
    es = RecordingEs()
    install_templates(es, Settings())
    assert {"vigil-rule-state", "vigil-entities"} <= es.indices.templates.keys()
