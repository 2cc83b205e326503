"""Index templates: explicit ECS mappings for `logs-*`, the dead-letter indices and `vigil-alerts`.

Priority 500 so our templates win over the built-in `logs-*-*` data-stream template of
clusters that run x-pack: Vigil uses daily indices per category (retention deletes whole days).
"""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from core.names import (
    ALERTS_INDEX,
    ENTITIES_INDEX,
    EVIDENCE_PREFIX,
    HOLDS_INDEX,
    HUNT_JOBS_INDEX,
    INCIDENTS_INDEX,
    LEDGER_INDEX,
    REPORTS_INDEX,
    RETENTION_LOG_INDEX,
    RULE_STATE_INDEX,
    Category,
)
from core.settings import Settings

KEYWORD = {"type": "keyword", "ignore_above": 2048}
# Sigma matches case-insensitively by default, keyword terms are exact: every string of `logs-*` also
# has a lower-cased `.ci` subfield for the hunt's queries (detectors/hunt/fields.py). The keyword itself
# keeps the original case: what the console shows and aggregates, and what `|cased` and `|re` query.
CI_NORMALIZER = "vigil_lowercase"
# 8191 chars: the longest value whose UTF-8 surely fits a Lucene term (32,766 bytes); longer values are
# kept in _source but not searchable (long SDDL strings, long script blocks: the stream still sees them).
LONG_KEYWORD = {"type": "keyword", "ignore_above": 8191}
LOG_KEYWORD = {**LONG_KEYWORD, "fields": {"ci": {**LONG_KEYWORD, "normalizer": CI_NORMALIZER}}}
TEXT = {"type": "text"}
IP = {"type": "ip", "ignore_malformed": True}
LONG = {"type": "long", "ignore_malformed": True}
DATE = {"type": "date"}


def _with_text(keyword: dict[str, Any]) -> dict[str, Any]:
    return {**keyword, "fields": {**keyword.get("fields", {}), "text": TEXT}}


def _endpoint() -> dict[str, Any]:
    return {
        "properties": {
            "ip": IP, "port": LONG, "bytes": LONG, "packets": LONG,
            "address": LOG_KEYWORD, "domain": LOG_KEYWORD, "mac": LOG_KEYWORD,
        }
    }  # fmt: skip


ECS_PROPERTIES: dict[str, Any] = {
    "@timestamp": DATE,
    "message": TEXT,
    "event": {"properties": {"original": {"type": "text", "index": False}, "created": DATE, "ingested": DATE,
                             "severity": LONG}},
    "source": _endpoint(),
    "destination": _endpoint(),
    "host": {"properties": {"ip": IP}},
    "process": {"properties": {"pid": LONG, "command_line": _with_text(LOG_KEYWORD),
                               "parent": {"properties": {"pid": LONG}}}},
    "file": {"properties": {"size": LONG, "path": _with_text(LOG_KEYWORD)}},
    "http": {"properties": {"request": {"properties": {"bytes": LONG}},
                            "response": {"properties": {"bytes": LONG, "status_code": LONG}}}},
    "network": {"properties": {"bytes": LONG, "packets": LONG}},
    "email": {"properties": {"size": LONG}},
    "winlog": {"properties": {"record_id": LONG, "event_data": {"type": "object", "dynamic": True}}},
    "log": {"properties": {"offset": LONG}},
    "url": {"properties": {"port": LONG, "original": _with_text(LOG_KEYWORD)}},
}  # fmt: skip

# Every other string is a keyword: exact, aggregatable, and what Sigma-to-Lucene queries expect.
DYNAMIC_TEMPLATES = [{"strings_as_keyword": {"match_mapping_type": "string", "mapping": KEYWORD}}]
LOG_DYNAMIC_TEMPLATES = [{"strings_as_keyword": {"match_mapping_type": "string", "mapping": LOG_KEYWORD}}]


DEADLETTER_MAPPINGS: dict[str, Any] = {
    "dynamic_templates": DYNAMIC_TEMPLATES,
    "properties": {"@timestamp": DATE, "raw": {"type": "text"}, "reason": TEXT, "offset": LONG},
}


# `vigil-alerts` (core.models.alert.Alert). Fields outside this mapping are kept but not indexed (dynamic:
# false) rather than refused, so a triage field the API adds never makes the alert store's writes fail.
# `context` holds a few detector-chosen scalars: stored and returned, not indexed (no mapping explosion).
ALERT_PROPERTIES: dict[str, Any] = {
    "id": KEYWORD, "@timestamp": DATE, "origin": KEYWORD, "status": KEYWORD, "assignee": KEYWORD,
    "rule": {"properties": {"id": KEYWORD, "version": KEYWORD, "kind": KEYWORD,
                            "title": {**KEYWORD, "fields": {"text": TEXT}}}},
    "severity": KEYWORD, "tags": KEYWORD, "dedup_key": KEYWORD, "playbook": KEYWORD,
    "entity": {"properties": {"kind": KEYWORD, "value": KEYWORD}},
    "event_ids": KEYWORD, "event_count": {"type": "long"}, "first_seen": DATE, "last_seen": DATE,
    "summary": {"properties": {"en": TEXT, "zh-CN": TEXT}},
    "context": {"type": "object", "enabled": False},
    "history": {"type": "nested", "properties": {"at": DATE, "by": KEYWORD, "status": KEYWORD,
                                                 "assignee": KEYWORD, "comment": TEXT}},
}  # fmt: skip

# `vigil-ledger` (core.ledger): entries are found by kind, index and chain; the per-document digests
# and the verification findings are kept, not indexed.
LEDGER_PROPERTIES: dict[str, Any] = {
    "kind": KEYWORD, "index": KEYWORD, "category": KEYWORD, "day": DATE, "chain": KEYWORD,
    "seq": {"type": "long"}, "version": {"type": "long"}, "link": KEYWORD, "clean": {"type": "boolean"},
    "recorded_at": DATE, "sealed_at": DATE, "retired_at": DATE, "verified_at": DATE,
}  # fmt: skip


def _settings(settings: Settings) -> dict[str, Any]:
    return {
        "number_of_shards": settings.es_shards,
        "number_of_replicas": settings.es_replicas,
        # No explicit refresh_interval: Elasticsearch's default (1 s) then skips the refresh of shards no
        # search has touched for 30 s (a search on one refreshes it first, so nothing indexed is missed).
        # Ingest writes a bulk across many daily indices that nobody searches meanwhile; "1s" set
        # explicitly refreshed every one of them every second.
        "mapping.total_fields.limit": 5000,
    }


def _logs_template(settings: Settings) -> dict[str, Any]:
    """Settings and mappings of a day of logs; evidence copies keep them (the `.ci` normalizer included)."""
    return {
        "settings": {
            **_settings(settings),
            "analysis": {"normalizer": {CI_NORMALIZER: {"type": "custom", "filter": ["lowercase"]}}},
        },
        "mappings": {"dynamic_templates": LOG_DYNAMIC_TEMPLATES, "properties": ECS_PROPERTIES},
    }


def install_templates(es: Elasticsearch, settings: Settings) -> None:
    for category in Category:
        es.indices.put_index_template(
            name=f"vigil-logs-{category.value}",
            index_patterns=[f"logs-{category.value}-*"],
            priority=500,
            template={**_logs_template(settings), "aliases": {"vigil-logs": {}}},
        )
    es.indices.put_index_template(
        name="vigil-deadletter",
        index_patterns=["vigil-deadletter-*"],
        priority=500,
        template={"settings": _settings(settings), "mappings": DEADLETTER_MAPPINGS},
    )
    es.indices.put_index_template(
        name="vigil-alerts",
        index_patterns=[ALERTS_INDEX],
        priority=500,
        template={"settings": _settings(settings), "mappings": {"dynamic": False, "properties": ALERT_PROPERTIES}},
    )
    install_ledger_template(es, settings)
    install_rule_state_template(es, settings)
    install_entities_template(es, settings)


def install_ledger_template(es: Elasticsearch, settings: Settings) -> None:
    """Before anything writes `vigil-ledger`: a dynamic mapping would map every document id it records."""
    es.indices.put_index_template(
        name="vigil-ledger",
        index_patterns=[LEDGER_INDEX],
        priority=500,
        template={"settings": _settings(settings), "mappings": {"dynamic": False, "properties": LEDGER_PROPERTIES}},
    )


def install_retention_templates(es: Elasticsearch, settings: Settings) -> None:
    """Legal holds, the evidence copies they protect, and the retention job's log of what it did.

    Evidence keeps the mappings of where it came from. Dead letters go to their own evidence
    index (`...-deadletter`): their `source` is a string, the ECS `source` an object.
    """
    es.indices.put_index_template(
        name="vigil-evidence",
        index_patterns=[f"{EVIDENCE_PREFIX}*"],
        priority=500,
        template=_logs_template(settings),
    )
    es.indices.put_index_template(
        name="vigil-evidence-deadletter",
        index_patterns=[f"{EVIDENCE_PREFIX}*-deadletter"],
        priority=510,
        template={"settings": _settings(settings), "mappings": DEADLETTER_MAPPINGS},
    )
    es.indices.put_index_template(
        name="vigil-holds",
        index_patterns=[HOLDS_INDEX],
        priority=500,
        template={
            "settings": _settings(settings),
            "mappings": {
                "dynamic_templates": DYNAMIC_TEMPLATES,
                "properties": {"from": DATE, "to": DATE, "created_at": DATE, "released_at": DATE,
                               "reason": TEXT, "release_reason": TEXT},
            },
        },
    )  # fmt: skip
    es.indices.put_index_template(
        name="vigil-retention-log",
        index_patterns=[RETENTION_LOG_INDEX],
        priority=500,
        template={
            "settings": _settings(settings),
            "mappings": {"dynamic_templates": DYNAMIC_TEMPLATES, "properties": {"@timestamp": DATE, "day": DATE}},
        },
    )


# `vigil-incidents` (core.models.incident.Incident): the fields the console filters on and the reports read are
# indexed; steps, timers, contacts and the timeline are stored whole, not indexed (dynamic: false), except the
# timers' due times, which the engine queries for the next wake-up.
INCIDENT_PROPERTIES: dict[str, Any] = {
    "id": KEYWORD, "title": {**KEYWORD, "fields": {"text": TEXT}}, "severity": KEYWORD, "status": KEYWORD,
    "serious": {"type": "boolean"}, "drill": {"type": "boolean"}, "playbook": KEYWORD, "assignee": KEYWORD,
    "entity": {"properties": {"kind": KEYWORD, "value": KEYWORD}},
    "alert_ids": KEYWORD, "rule_ids": KEYWORD, "tags": KEYWORD, "opened_by": KEYWORD,
    "first_seen": DATE, "last_seen": DATE, "detected_at": DATE, "opened_at": DATE, "contacted_at": DATE,
    "reported_at": DATE, "closed_at": DATE, "updated_at": DATE, "wake_at": DATE, "work": {"type": "boolean"},
    "deadlines": {"type": "nested", "properties": {"name": KEYWORD, "due": DATE, "met_at": DATE}},
    "timers": {"type": "nested", "properties": {"due": DATE, "fired_at": DATE, "cancelled_at": DATE}},
}  # fmt: skip


def small_index_settings(settings: Settings) -> dict[str, Any]:
    """A Vigil index of a few hundred documents at most: one shard, the configured replicas."""
    return {"number_of_shards": 1, "number_of_replicas": settings.es_replicas}


def install_incident_template(es: Elasticsearch, settings: Settings) -> None:
    es.indices.put_index_template(
        name="vigil-incidents",
        index_patterns=[INCIDENTS_INDEX],
        priority=500,
        template={"settings": _settings(settings), "mappings": {"dynamic": False, "properties": INCIDENT_PROPERTIES}},
    )


def install_reports_template(es: Elasticsearch, settings: Settings) -> None:
    """`vigil-reports`: patrol record versions (reports) and the rules summary the detection workers store,
    so whichever writes first creates the index with these settings (not one replica on a single node)."""
    es.indices.put_index_template(
        name="vigil-reports",
        index_patterns=[REPORTS_INDEX],
        priority=500,
        template={"settings": small_index_settings(settings), "mappings": {
            "dynamic_templates": DYNAMIC_TEMPLATES,
            # The content is kept, not searched: disabling it keeps the mapping small and fixed.
            "properties": {"day": DATE, "version": {"type": "integer"}, "generated_at": DATE, "signed_at": DATE,
                           "findings": TEXT, "actions": TEXT, "remarks": TEXT,
                           "content": {"type": "object", "enabled": False}}}},
    )  # fmt: skip


# `vigil-rule-state` (core.models.rules.RuleState, `_id` = rule id): the rules API's enable/disable switch.
RULE_STATE_PROPERTIES: dict[str, Any] = {
    "rule_id": KEYWORD, "enabled": {"type": "boolean"}, "changed_by": KEYWORD, "changed_at": DATE, "reason": TEXT,
}  # fmt: skip


def install_rule_state_template(es: Elasticsearch, settings: Settings) -> None:
    """Before the rules API first writes `vigil-rule-state` (a handful of documents: one shard)."""
    es.indices.put_index_template(
        name="vigil-rule-state",
        index_patterns=[RULE_STATE_INDEX],
        priority=500,
        template={"settings": small_index_settings(settings),
                  "mappings": {"dynamic": False, "properties": RULE_STATE_PROPERTIES}},
    )  # fmt: skip


# `vigil-entities` (detectors.inventory.entity_documents): every string of an entity is an exact keyword
# (departments, clearances, hosts); no date detection, so a free-text field never turns into a date.
ENTITIES_MAPPINGS: dict[str, Any] = {
    "dynamic_templates": [{"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}],
    "date_detection": False,
    "properties": {"entity_kind": {"type": "keyword"}, "entity_key": {"type": "keyword"}},
}


def install_entities_template(es: Elasticsearch, settings: Settings) -> None:
    """Before the inventory is first synced. `vigil-entities-*` too: a copy synced beside it (a staging
    inventory, a test's own index) gets the same mapping and replicas."""
    es.indices.put_index_template(
        name="vigil-entities",
        index_patterns=[ENTITIES_INDEX, f"{ENTITIES_INDEX}-*"],
        priority=500,
        template={"settings": small_index_settings(settings),
                  "mappings": ENTITIES_MAPPINGS},
    )  # fmt: skip


# `vigil-hunt-jobs` (api.models.hunts.HuntJob, `_id` = job id): on-demand hunts run by the API. Listed by status
# and creation time, found stale by heartbeat; the counts and alert ids are stored, not indexed.
HUNT_JOB_PROPERTIES: dict[str, Any] = {
    "id": KEYWORD, "rule_id": KEYWORD, "evaluation": KEYWORD, "status": KEYWORD, "dry_run": {"type": "boolean"},
    "cancel_requested": {"type": "boolean"}, "from": DATE, "to": DATE, "created_at": DATE, "started_at": DATE,
    "finished_at": DATE, "heartbeat_at": DATE, "requested_by": {"properties": {"name": KEYWORD, "role": KEYWORD}},
}  # fmt: skip


def install_hunt_jobs_template(es: Elasticsearch, settings: Settings) -> None:
    """Before the API first writes `vigil-hunt-jobs` (a few jobs a day: one shard)."""
    es.indices.put_index_template(
        name="vigil-hunt-jobs",
        index_patterns=[HUNT_JOBS_INDEX],
        priority=500,
        template={"settings": small_index_settings(settings),
                  "mappings": {"dynamic": False, "properties": HUNT_JOB_PROPERTIES}},
    )  # fmt: skip
