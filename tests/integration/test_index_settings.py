"""The small indices Vigil creates on demand (rule state, entity inventory) on a real single node:
replicas from the settings, so the node stays green instead of yellow with an unassignable replica."""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch

from api.rules import set_rule_state
from core import clients
from core.models.entity import Inventory, User
from core.names import RULE_STATE_INDEX
from core.settings import Settings
from detectors.inventory import sync_entities

pytestmark = pytest.mark.integration


def assert_green_with_configured_replicas(es: Elasticsearch, index: str, settings: Settings) -> None:
    replicas = es.indices.get_settings(index=index)[index]["settings"]["index"]["number_of_replicas"]
    assert int(replicas) == settings.es_replicas == 0
    health = es.cluster.health(index=index, wait_for_status="green", timeout="20s")
    assert health["status"] == "green" and not health["timed_out"] and health["unassigned_shards"] == 0


def test_rule_state_index_is_created_with_the_configured_replicas(settings: Settings) -> None:
    es = clients.es_client(settings)
    state = set_rule_state(es, settings, "gaps-no-such-rule", enabled=True, by="test", reason="index settings")
    try:
        assert es.get(index=RULE_STATE_INDEX, id="gaps-no-such-rule")["_source"]["changed_by"] == "test"
        assert_green_with_configured_replicas(es, RULE_STATE_INDEX, settings)
        mapping = es.indices.get_mapping(index=RULE_STATE_INDEX)[RULE_STATE_INDEX]["mappings"]
        assert mapping["dynamic"] == "false" and mapping["properties"]["changed_at"]["type"] == "date"
        assert state.enabled
    finally:
        es.delete(index=RULE_STATE_INDEX, id="gaps-no-such-rule", refresh="wait_for")


def test_entities_index_is_created_with_the_configured_replicas(settings: Settings) -> None:
    es = clients.es_client(settings)
    index = "vigil-entities-replicas-test"
    es.indices.delete(index=index, ignore_unavailable=True)
    result = sync_entities(es, settings, Inventory(users=[User(name="alice", department="Finance")]), index=index)
    assert result.indexed == 2  # alice and the default calendar
    assert_green_with_configured_replicas(es, index, settings)
    hits = es.search(index=index, query={"term": {"department": "Finance"}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["user:alice"]  # the keyword mapping from the template
    es.indices.delete(index=index)
