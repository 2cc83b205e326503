"""The indices reports own: `vigil-reports` (patrol record versions) and `vigil-health-samples`."""

from __future__ import annotations

from elasticsearch import Elasticsearch

from core.index_templates import DATE, DYNAMIC_TEMPLATES, TEXT
from core.names import REPORTS_INDEX
from core.settings import Settings

HEALTH_INDEX = "vigil-health-samples"


def install_report_templates(es: Elasticsearch, settings: Settings) -> None:
    base = {"number_of_shards": 1, "number_of_replicas": settings.es_replicas}
    es.indices.put_index_template(
        name="vigil-reports",
        index_patterns=[REPORTS_INDEX],
        priority=500,
        template={"settings": base, "mappings": {
            "dynamic_templates": DYNAMIC_TEMPLATES,
            # The content is kept, not searched: disabling it keeps the mapping small and fixed.
            "properties": {"day": DATE, "version": {"type": "integer"}, "generated_at": DATE, "signed_at": DATE,
                           "findings": TEXT, "actions": TEXT, "remarks": TEXT,
                           "content": {"type": "object", "enabled": False}}}},
    )  # fmt: skip
    es.indices.put_index_template(
        name="vigil-health-samples",
        index_patterns=[HEALTH_INDEX],
        priority=500,
        template={"settings": base, "mappings": {"properties": {
            "component": {"type": "keyword"}, "ok": {"type": "boolean"}, "at": DATE,
            "detail": {"type": "keyword", "ignore_above": 1024}}}},
    )  # fmt: skip
