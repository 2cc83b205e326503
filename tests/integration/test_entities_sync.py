"""The entity inventory through a real Elasticsearch: sync to `vigil-entities`, read back, re-sync."""

from __future__ import annotations

import pytest

from core import clients
from core.settings import Settings
from detectors.inventory import entity_documents, load_inventory, read_entities, sync_entities
from tests.unit.policy_support import SAMPLE_INVENTORY

pytestmark = pytest.mark.integration


def test_entities_round_trip(settings: Settings) -> None:
    es = clients.es_client(settings)
    index = "vigil-entities-test"
    inventory = load_inventory(SAMPLE_INVENTORY)
    first = sync_entities(es, settings, inventory, index=index)
    assert first.indexed == len(entity_documents(inventory)) and first.deleted == 0
    back = read_entities(es, index=index)
    assert sorted(u.model_dump_json() for u in back.users) == sorted(u.model_dump_json() for u in inventory.users)
    assert sorted(r.id for r in back.resources) == sorted(r.id for r in inventory.resources)
    assert back.vendors == inventory.vendors and back.calendar == inventory.calendar
    doc = es.get(index=index, id="user:zhangwei")["_source"]
    assert doc["entity_kind"] == "user" and doc["clearance"] == "confidential"
    # same inventory again: same ids, nothing new; a departed entry removed from HR goes away
    again = sync_entities(es, settings, inventory, index=index)
    assert again.indexed == first.indexed and es.count(index=index)["count"] == first.indexed
    smaller = inventory.model_copy(update={"users": [u for u in inventory.users if u.name != "chenjie"]})
    result = sync_entities(es, settings, smaller, index=index)
    assert result.deleted == 1 and not es.exists(index=index, id="user:chenjie")
    hits = es.search(index=index, query={"term": {"department": "Finance"}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["user:zhangwei"]
