"""`/rules`: the loaded Sigma rules and the skipped ones with reasons, enable/disable, and a rule
tried on pasted events. Enable/disable is recorded in `vigil-rule-state`; the detection workers and
the scheduled hunts honour it within `rule_state_refresh_s` (see `detectors/rule_state.py`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from api.deps import EsDep, RuleManager, RuleReader, RuleTester, SettingsDep
from api.errors import NotFound
from api.models.common import AUTH_RESPONSES, ErrorPublic
from api.models.rules import RulePublic, RulesPublic, RuleState, RuleTest, RuleTestPublic, RuleToggle, SkippedRulePublic
from api.rules import RuleCatalog, rule_states, set_rule_state, try_rule
from core.settings import Settings
from detectors.sigma.engine import SigmaEngine

router = APIRouter(prefix="/rules", tags=["rules"])


def get_engine(request: Request) -> SigmaEngine:
    catalog: RuleCatalog = request.app.state.rules
    return catalog.engine()


EngineDep = Annotated[SigmaEngine, Depends(get_engine)]


@router.get("", response_model=RulesPublic, responses=AUTH_RESPONSES, summary="Rules loaded and skipped, with reasons")
def list_rules(_user: RuleReader, engine: EngineDep, es: EsDep) -> RulesPublic:
    report = engine.report()
    states = rule_states(es)
    data = [
        RulePublic(id=r.info.id, title=r.info.title, level=r.info.level, status=r.info.status, tags=list(r.info.tags),
                   logsource=str(r.info.logsource), rule_dir=r.info.rule_dir, path=r.info.path,
                   version=r.info.version, enabled=states[r.info.id].enabled if r.info.id in states else True,
                   state=states.get(r.info.id))
        for r in engine.rules
    ]  # fmt: skip
    skipped = [
        SkippedRulePublic(id=s.id, title=s.title, rule_dir=s.rule_dir, path=s.path, reason=s.reason.value,
                          detail=s.detail)
        for s in engine.skipped
    ]  # fmt: skip
    return RulesPublic(**report.model_dump(), data=data, skipped_rules=skipped)


def _toggle(
    engine: SigmaEngine, es: EsDep, settings: Settings, rule_id: str, *, enabled: bool, by: str, body: RuleToggle
) -> RuleState:
    loaded = any(r.info.id == rule_id for r in engine.rules) or any(c.id == rule_id for c in engine.correlations.rules)
    if not loaded:
        raise NotFound(f"no loaded rule with id {rule_id!r} (skipped rules are not evaluated anyway)")
    return set_rule_state(es, settings, rule_id, enabled=enabled, by=by, reason=body.reason)


TOGGLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": ErrorPublic, "description": "no loaded rule with this id"},
}


@router.post("/{rule_id}/disable", response_model=RuleState, responses=TOGGLE_RESPONSES, summary="Disable a rule")
def disable(
    user: RuleManager, rule_id: str, engine: EngineDep, es: EsDep, settings: SettingsDep, body: RuleToggle | None = None
) -> RuleState:
    return _toggle(engine, es, settings, rule_id, enabled=False, by=user.name, body=body or RuleToggle(reason=None))


@router.post("/{rule_id}/enable", response_model=RuleState, responses=TOGGLE_RESPONSES, summary="Enable a rule")
def enable(
    user: RuleManager, rule_id: str, engine: EngineDep, es: EsDep, settings: SettingsDep, body: RuleToggle | None = None
) -> RuleState:
    return _toggle(engine, es, settings, rule_id, enabled=True, by=user.name, body=body or RuleToggle(reason=None))


@router.post(
    "/test",
    response_model=RuleTestPublic,
    responses=AUTH_RESPONSES,
    summary="Run one Sigma rule (YAML) over pasted events (ECS or raw Windows JSON): which match",
)
def test(_user: RuleTester, body: RuleTest) -> RuleTestPublic:
    return try_rule(body.rule, body.events)
