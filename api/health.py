"""Backend checks for `GET /health`: each returns a model and never raises for an outage."""

from __future__ import annotations

from elasticsearch import Elasticsearch
from elasticsearch import TransportError as EsTransportError
from elasticsearch.exceptions import ApiError as EsApiError
from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError

from api.models.health import ElasticsearchHealth, GroupLag, KafkaHealth, PartitionLag
from core.settings import Settings

VIGIL_GROUP_PREFIX = "vigil-"


def elasticsearch_health(es: Elasticsearch) -> ElasticsearchHealth:
    # `_cluster/health`, not `GET /`: the local integ-test distribution has no root endpoint.
    try:
        health = es.cluster.health(timeout="5s")
    except (EsApiError, EsTransportError) as exc:
        return ElasticsearchHealth(reachable=False, detail=str(exc)[:500])
    return ElasticsearchHealth(reachable=True, status=health["status"], nodes=health["number_of_nodes"])


def kafka_health(settings: Settings) -> tuple[KafkaHealth, list[GroupLag]]:
    """Broker reachability and the lag of every Vigil consumer group (committed vs latest offset)."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000)
    except KafkaError as exc:
        return KafkaHealth(reachable=False, detail=f"{settings.kafka_bootstrap}: {exc}"), []
    try:
        brokers = len(admin.describe_cluster().get("brokers", []))
        return KafkaHealth(reachable=True, brokers=brokers), consumer_lag(admin, settings)
    except KafkaError as exc:
        return KafkaHealth(reachable=False, detail=str(exc)[:500]), []
    finally:
        admin.close()


def vigil_groups(listed: list[str], settings: Settings) -> list[str]:
    """The configured normaliser and indexer groups, and any other group named vigil-*."""
    wanted = {settings.normaliser_group, settings.indexer_group}
    return sorted(wanted | {group for group in listed if group.startswith(VIGIL_GROUP_PREFIX)})


def consumer_lag(admin: KafkaAdminClient, settings: Settings) -> list[GroupLag]:
    listed = [group["group_id"] for group in admin.list_groups()]
    groups = vigil_groups(listed, settings)
    committed = admin.list_group_offsets({group: None for group in groups if group in listed})
    partitions = {tp for offsets in committed.values() for tp in offsets}
    ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions}) if partitions else {}
    result = []
    for group in groups:
        offsets: dict[TopicPartition, object] = committed.get(group, {})
        rows = []
        for tp in sorted(offsets, key=lambda t: (t.topic, t.partition)):
            end = ends[tp].offset
            position = offsets[tp].offset  # type: ignore[attr-defined]
            done = position if position is not None and position >= 0 else None
            rows.append(PartitionLag(topic=tp.topic, partition=tp.partition, committed=done, end=end,
                                     lag=max(0, end - (done or 0))))  # fmt: skip
        result.append(GroupLag(group=group, started=bool(rows), lag=sum(row.lag for row in rows), partitions=rows))
    return result
