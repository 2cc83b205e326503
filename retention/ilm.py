"""An ILM delete policy for clusters that have ILM (production x-pack); the local node has none.

The policy is a backstop, never the authority: its `min_age` (counted from index creation, which
is never before the index's day) is the retention plus a grace of two days, so the daily job, which
copies held documents first, always acts before ILM. Indices meeting an active hold are detached
from ILM (`_ilm/remove`): only the job may delete them.
"""

from __future__ import annotations

import logging
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError

from core.models.hold import Hold
from core.names import RetentionScope
from core.settings import RetentionPolicy
from retention.indices import list_daily_indices
from retention.plan import holds_meeting
from retention.policy import enforce_floor

log = logging.getLogger(__name__)

GRACE_DAYS = 2


def ilm_available(es: Elasticsearch) -> bool:
    """Every node loads the `x-pack-ilm` module and `GET _ilm/status` answers. The module list is asked
    first: the local node refuses `_ilm/status` (405) and `_xpack` (500), which the client logs as a
    failed node."""
    try:
        nodes = es.nodes.info(metric="plugins", filter_path="nodes.*.modules.name").get("nodes", {})
        if not nodes or not all(
            any(module.get("name") == "x-pack-ilm" for module in node.get("modules", [])) for node in nodes.values()
        ):
            return False
        return bool(es.ilm.get_status().get("operation_mode"))
    except (ApiError, TransportError):
        return False


def policy_name(scope: RetentionScope) -> str:
    return f"vigil-retention-{scope.value}"


def policy_body(days: int) -> dict[str, Any]:
    return {"phases": {"delete": {"min_age": f"{days + GRACE_DAYS}d", "actions": {"delete": {}}}}}


def install_ilm(es: Elasticsearch, policy: RetentionPolicy, holds: list[Hold]) -> list[str]:
    """Put one delete policy per scope and attach it to that scope's daily indices (except held
    ones). Returns the policy names installed; empty when the cluster has no ILM."""
    if not ilm_available(es):
        return []
    enforce_floor(policy)
    names = []
    for scope in RetentionScope:
        name = policy_name(scope)
        es.ilm.put_lifecycle(name=name, policy=policy_body(policy.days(scope)))
        names.append(name)
    for index in list_daily_indices(es):
        if not holds_meeting(index, holds):
            es.indices.put_settings(index=index.name, settings={"index.lifecycle.name": policy_name(index.scope)})
    detach_held_indices(es, holds)
    return names


def detach_held_indices(es: Elasticsearch, holds: list[Hold]) -> None:
    if not holds or not ilm_available(es):
        return
    for index in list_daily_indices(es):
        if holds_meeting(index, holds):
            log.info("detaching %s from ILM: it meets an active hold", index.name)
            es.ilm.remove_policy(index=index.name)
