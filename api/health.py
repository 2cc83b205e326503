"""Backend checks for `GET /health`: each returns a model and never raises for an outage."""

from __future__ import annotations

from elasticsearch import Elasticsearch
from elasticsearch import TransportError as EsTransportError
from elasticsearch.exceptions import ApiError as EsApiError
from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError

from api.models.health import ElasticsearchHealth, GroupLag, KafkaHealth, PartitionLag
from core.names import Topic
from core.settings import Settings

VIGIL_GROUP_PREFIX = "vigil-"
# A health check must answer while Kafka is down: fail fast instead of the client's 30 s defaults.
KAFKA_TIMEOUT_MS = 5000


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
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap,
            bootstrap_timeout_ms=KAFKA_TIMEOUT_MS,
            request_timeout_ms=KAFKA_TIMEOUT_MS,
        )
    except KafkaError as exc:
        return KafkaHealth(reachable=False, detail=f"{settings.kafka_bootstrap}: {exc}"), []
    try:
        brokers = len(admin.describe_cluster().get("brokers", []))
        return KafkaHealth(reachable=True, brokers=brokers), consumer_lag(admin, settings)
    except KafkaError as exc:
        return KafkaHealth(reachable=False, detail=str(exc)[:500]), []
    finally:
        admin.close()


def vigil_groups(listed: list[str], settings: Settings) -> dict[str, list[str]]:
    """Group → the topics it is known to read: the configured normaliser and indexer (whose topics we
    know, so a partition they never committed counts as fully lagging), and any other vigil-* group."""
    groups: dict[str, list[str]] = {group: [] for group in listed if group.startswith(VIGIL_GROUP_PREFIX)}
    groups[settings.normaliser_group] = [Topic.RAW.value]
    groups[settings.indexer_group] = [Topic.EVENTS.value, Topic.DEADLETTER.value]
    return dict(sorted(groups.items()))


def consumer_lag(admin: KafkaAdminClient, settings: Settings) -> list[GroupLag]:
    listed = [group["group_id"] for group in admin.list_groups()]
    groups = vigil_groups(listed, settings)
    committed = admin.list_group_offsets({group: None for group in groups if group in listed}) if listed else {}
    known = {topic for topics in groups.values() for topic in topics}
    partitions = {tp for offsets in committed.values() for tp in offsets}
    for topic in admin.describe_topics(sorted(known)):
        if topic.get("error_code", 0) == 0:
            partitions |= {TopicPartition(topic["name"], part["partition_index"]) for part in topic["partitions"]}
    ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions}) if partitions else {}
    starts = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in partitions}) if partitions else {}
    result = []
    for group, topics in groups.items():
        offsets = {tp: meta.offset for tp, meta in committed.get(group, {}).items() if meta.offset >= 0}
        mine = sorted(
            {*offsets, *(tp for tp in partitions if tp.topic in topics)}, key=lambda t: (t.topic, t.partition)
        )
        rows = [
            PartitionLag(
                topic=tp.topic,
                partition=tp.partition,
                committed=offsets.get(tp),
                end=ends[tp].offset,
                # Never committed: the group would start from the earliest record still kept.
                lag=max(0, ends[tp].offset - offsets.get(tp, starts[tp].offset)),
            )
            for tp in mine
        ]
        result.append(GroupLag(group=group, started=bool(offsets), lag=sum(r.lag for r in rows), partitions=rows))
    return result
