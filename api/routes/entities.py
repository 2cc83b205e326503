"""`/entities`: read the people/asset inventory (`vigil-entities`) and replace it with an uploaded YAML.

The detectors load the inventory when they start (`detectors.inventory.read_entities`): an upload
takes effect in a running worker at its next restart.
"""

from __future__ import annotations

from typing import Annotated, Any

from elasticsearch import ApiError, NotFoundError, TransportError
from fastapi import APIRouter, Depends, Query, Request

from api.bodies import media_type, read_limited
from api.deps import EntityManager, EntityReader, EsDep, SettingsDep
from api.errors import BackendUnavailable, BadRequest, NotFound
from api.models.common import AUTH_RESPONSES, ErrorPublic
from api.models.entities import EntitiesPublic, EntitiesSyncPublic, EntityPublic, EntitySearch
from api.queries import entities_search
from api.search import check_page_size, run_search
from core.names import ENTITIES_INDEX
from detectors.inventory import (
    ENTITY_MODELS,
    EntityStoreError,
    InventoryError,
    parse_inventory_text,
    sync_entities,
)  # fmt: skip

router = APIRouter(prefix="/entities", tags=["entities"])

YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"}
UPLOAD_LABEL = "inventory"  # stands for the file name in load errors: `inventory:12: field users.3.clearance`


def _entity(doc_id: str, source: dict[str, Any]) -> EntityPublic:
    attributes = dict(source)
    kind, key = attributes.pop("entity_kind", None), attributes.pop("entity_key", None)
    model = ENTITY_MODELS.get(str(kind))
    if model is None:
        raise BackendUnavailable(f"{ENTITIES_INDEX}/{doc_id}: unknown entity_kind {kind!r} (written outside Vigil?)")
    validated = model.model_validate(attributes).model_dump(mode="json")
    return EntityPublic(id=doc_id, kind=kind, key=key, attributes=validated)  # type: ignore[arg-type]


@router.get("", response_model=EntitiesPublic, responses=AUTH_RESPONSES, summary="List inventory entities")
def list_entities(
    _user: EntityReader, params: Annotated[EntitySearch, Query()], settings: SettingsDep, es: EsDep
) -> EntitiesPublic:
    check_page_size(params.size, settings.api_max_page_size)
    response = run_search(es, ENTITIES_INDEX, entities_search(params))
    hits = response["hits"]["hits"]
    return EntitiesPublic(
        data=[_entity(h["_id"], h["_source"]) for h in hits], count=response["hits"]["total"]["value"]
    )


@router.get(
    "/{entity_id}",
    response_model=EntityPublic,
    responses={**AUTH_RESPONSES, 404: {"model": ErrorPublic}},
    summary="One entity by id (user:alice, resource:hr-share, vendor:acme, calendar:default)",
)
def read_entity(_user: EntityReader, entity_id: str, es: EsDep) -> EntityPublic:
    try:
        found = es.get(index=ENTITIES_INDEX, id=entity_id)
    except NotFoundError:
        raise NotFound(f"no entity with id {entity_id!r} (ids are kind:key, e.g. user:alice)") from None
    except (ApiError, TransportError) as exc:
        raise BackendUnavailable(f"Elasticsearch did not answer: {exc}") from exc
    return _entity(found["_id"], found["_source"])


async def read_yaml(request: Request, settings: SettingsDep) -> str:
    media_type(request, YAML_TYPES, "application/yaml")
    body = await read_limited(request, settings.api_max_body_bytes)
    try:
        return body.decode("utf-8-sig")  # Excel and Windows editors write a BOM
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the inventory is not UTF-8 text (byte {exc.start})") from None


@router.put(
    "",
    response_model=EntitiesSyncPublic,
    responses={**AUTH_RESPONSES, 413: {"model": ErrorPublic}, 415: {"model": ErrorPublic}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/yaml": {"schema": {
        "type": "string", "example": "users:\n  - name: alice\n    clearance: 机密\n    hosts: [ws01]\n"}}}}},
    summary="Replace the inventory with a YAML document (users, resources, vendors, calendar)",
)  # fmt: skip
def replace_entities(
    _user: EntityManager, text: Annotated[str, Depends(read_yaml)], es: EsDep, settings: SettingsDep
) -> EntitiesSyncPublic:
    """Validated as a whole first: on any error (422, naming the line and the field) nothing is stored.
    Then the index is made to hold exactly this inventory: entities not in it are deleted."""
    try:
        inventory = parse_inventory_text(text, UPLOAD_LABEL)
    except InventoryError as exc:
        raise BadRequest(str(exc)) from exc
    try:
        result = sync_entities(es, settings, inventory)
    except (EntityStoreError, ApiError, TransportError) as exc:
        raise BackendUnavailable(f"{ENTITIES_INDEX} could not be written: {exc}") from exc
    return EntitiesSyncPublic(indexed=result.indexed, deleted=result.deleted, users=len(inventory.users),
                              resources=len(inventory.resources), vendors=len(inventory.vendors))  # fmt: skip
