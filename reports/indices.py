"""The indices reports own: `vigil-reports` (patrol record versions) and `vigil-health-samples`."""

from __future__ import annotations

from elasticsearch import Elasticsearch

from core.index_templates import DATE, install_reports_template, small_index_settings
from core.settings import Settings

HEALTH_INDEX = "vigil-health-samples"


def install_report_templates(es: Elasticsearch, settings: Settings) -> None:
    install_reports_template(es, settings)
    es.indices.put_index_template(
        name="vigil-health-samples",
        index_patterns=[HEALTH_INDEX],
        priority=500,
        template={"settings": small_index_settings(settings), "mappings": {"properties": {
            "component": {"type": "keyword"}, "ok": {"type": "boolean"}, "at": DATE,
            "detail": {"type": "keyword", "ignore_above": 1024}}}},
    )  # fmt: skip
