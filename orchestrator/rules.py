"""Automation rules: a YAML file of trigger → conditions → steps, validated before anything runs.

The file is read once at start-up (API and worker); every problem is reported at once, each
naming the rule and the field (``rules[2] (speed_to_lead).steps[0].template: ...``), and a
template is compiled and rendered against a sample lead so a misspelt field fails here, not at
the first send. Templates are Jinja2 in a sandbox over the lead's fields.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml  # type: ignore[import-untyped]
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.funnel import STAGES
from orchestrator.quiet_hours import QuietHours

DEFAULT_RULES_FILE = Path(__file__).with_name("automations.yaml")
TRIGGERS = ("lead_created", "stage_changed", "score_crossed", "no_contact", "reply", "task_done")

# What conditions and templates may read: the lead's columns (contacts excluded from templates
# on purpose: a message never needs to quote them) and what each trigger's event carries.
LEAD_FIELDS = (
    "lead_id", "source", "external_id", "first_name", "last_name", "property_street",
    "property_city", "property_state", "property_zip", "property_type", "bedrooms", "bathrooms",
    "square_feet", "year_built", "asking_price", "mortgage_balance", "condition", "occupancy",
    "motivation", "timeline", "consent_email", "consent_sms", "intake_channel", "received_at",
)  # fmt: skip
DERIVED_FIELDS = ("age_hours", "stage")
EVENT_FIELDS = (
    "from_stage",
    "to_stage",
    "score",
    "previous",
    "source",
    "channel",
    "keyword",
    "days",
    "task_id",
    "task_kind",
    "assignee",
)
_SAMPLE_LEAD: dict[str, Any] = {
    "lead_id": 1, "source": "web_form", "external_id": "X-1", "first_name": "Ana",
    "last_name": "Diaz", "property_street": "1 Elm St", "property_city": "Austin",
    "property_state": "TX", "property_zip": "78701", "property_type": "single_family",
    "bedrooms": 3, "bathrooms": 2, "square_feet": 1500, "year_built": 1990,
    "asking_price": 250000, "mortgage_balance": 100000, "condition": "fair",
    "occupancy": "owner", "motivation": "relocation", "timeline": "asap", "consent_email": True,
    "consent_sms": True, "intake_channel": "api", "received_at": datetime(2026, 1, 1),
    "age_hours": 1.0, "stage": "new",
}  # fmt: skip
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 30s, 10m, 2h or 3d")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def template_environment() -> SandboxedEnvironment:
    # A missing value prints as nothing, not "None"; a misspelt name is an error (StrictUndefined).
    return SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=lambda value: "" if value is None else value,
        keep_trailing_newline=False,
    )


_ENV = template_environment()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(_Strict):
    type: Literal[
        "lead_created", "stage_changed", "score_crossed", "no_contact", "reply", "task_done"
    ]
    to_stage: str | None = Field(default=None, description="stage_changed: only moves into it")
    from_stage: str | None = None
    threshold: float | None = Field(default=None, ge=0, le=1, description="score_crossed")
    direction: Literal["up", "down"] = "up"
    days: int | None = Field(default=None, ge=1, description="no_contact: days without contact")

    @field_validator("to_stage", "from_stage")
    @classmethod
    def _stage(cls, value: str | None) -> str | None:
        if value is not None and value not in STAGES:
            raise ValueError(f"unknown stage {value!r}; stages are {', '.join(STAGES)}")
        return value

    @model_validator(mode="after")
    def _needs(self) -> Trigger:
        if self.type == "score_crossed" and self.threshold is None:
            raise ValueError("score_crossed needs a threshold")
        if self.type == "no_contact" and self.days is None:
            raise ValueError("no_contact needs days")
        return self


_OPS = ("equals", "not_equals", "in", "not_in", "gt", "gte", "lt", "lte", "is_set")


class Condition(_Strict):
    """``{field: lead.motivation, in: [divorce, probate]}``: one field, one comparison."""

    field: str
    equals: Any = None
    not_equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    not_in: list[Any] | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    is_set: bool | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("field")
    @classmethod
    def _known(cls, value: str) -> str:
        scope, _, name = value.partition(".")
        known = {
            "lead": LEAD_FIELDS + DERIVED_FIELDS,
            "event": EVENT_FIELDS,
        }.get(scope)
        if known is None or name not in known:
            raise ValueError(
                f"unknown field {value!r}: use lead.<{'|'.join(LEAD_FIELDS + DERIVED_FIELDS)}> "
                f"or event.<{'|'.join(EVENT_FIELDS)}>"
            )
        return value

    @model_validator(mode="after")
    def _one_op(self) -> Condition:
        given = [op for op in _OPS if getattr(self, "in_" if op == "in" else op) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(_OPS)} (got {given or 'none'})")
        return self

    def holds(self, values: dict[str, Any]) -> bool:
        value = values.get(self.field)
        if self.is_set is not None:
            return (value is not None and value != "") is self.is_set
        if self.equals is not None:
            return value == self.equals
        if self.not_equals is not None:
            return value != self.not_equals
        if self.in_ is not None:
            return value in self.in_
        if self.not_in is not None:
            return value not in self.not_in
        if value is None:
            return False
        number = float(value)
        if self.gt is not None:
            return number > self.gt
        if self.gte is not None:
            return number >= self.gte
        if self.lt is not None:
            return number < self.lt
        return self.lte is not None and number <= self.lte


class Step(_Strict):
    type: Literal["send_sms", "send_email", "wait", "move_stage", "create_task"]
    template: str | None = Field(default=None, description="send_*: the message body (Jinja2)")
    subject: str | None = Field(default=None, description="send_email: the subject (Jinja2)")
    duration: str | None = Field(default=None, description="wait: 30s, 10m, 2h, 3d")
    stage: str | None = Field(default=None, description="move_stage: the stage to move to")
    reason: str | None = None
    task_kind: str | None = Field(default=None, description="create_task: research, ...")
    assignee: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Step:
        needs = {
            "send_sms": ("template",),
            "send_email": ("template", "subject"),
            "wait": ("duration",),
            "move_stage": ("stage",),
            "create_task": ("task_kind",),
        }[self.type]
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.type} needs {', '.join(missing)}")
        if self.duration is not None:
            parse_duration(self.duration)
        if self.stage is not None and self.stage not in STAGES:
            raise ValueError(f"unknown stage {self.stage!r}; stages are {', '.join(STAGES)}")
        for name in ("template", "subject"):
            text = getattr(self, name)
            if text is not None:
                _check_template(text, name)
        return self

    @property
    def wait(self) -> timedelta:
        return parse_duration(self.duration or "0s")

    @property
    def channel(self) -> str | None:
        return {"send_sms": "sms", "send_email": "email"}.get(self.type)

    def render(self, field: str, lead: dict[str, Any]) -> str:
        text = getattr(self, field)
        return _compiled(text).render(lead=lead, **_globals()).strip()


def _globals() -> dict[str, Any]:
    return {"company": "Hidden Key Investments"}


_TEMPLATES: dict[str, Any] = {}


def _compiled(text: str) -> Any:
    template = _TEMPLATES.get(text)
    if template is None:
        template = _TEMPLATES[text] = _ENV.from_string(text)
    return template


def _check_template(text: str, name: str) -> None:
    try:
        _compiled(text).render(lead=_SAMPLE_LEAD, **_globals())
    except TemplateError as exc:
        raise ValueError(f"{name} does not render: {exc}") from None


RuleId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class Rule(_Strict):
    id: RuleId
    description: str = ""
    enabled: bool = True
    trigger: Trigger
    conditions: list[Condition] = []
    steps: list[Step] = Field(min_length=1)

    def matches(self, kind: str, values: dict[str, Any]) -> bool:
        if not self.enabled or kind != self.trigger.type:
            return False
        trigger = self.trigger
        if trigger.to_stage and values.get("event.to_stage") != trigger.to_stage:
            return False
        if trigger.from_stage and values.get("event.from_stage") != trigger.from_stage:
            return False
        if trigger.type == "score_crossed" and not _crossed(trigger, values):
            return False
        if trigger.type == "no_contact" and values.get("event.days") != trigger.days:
            return False
        return all(condition.holds(values) for condition in self.conditions)


def _crossed(trigger: Trigger, values: dict[str, Any]) -> bool:
    score, previous = values.get("event.score"), values.get("event.previous")
    threshold = trigger.threshold
    if score is None or threshold is None:
        return False
    before = 0.0 if previous is None else float(previous)
    if trigger.direction == "up":
        return before < threshold <= float(score)
    return float(score) < threshold <= before


class Caps(_Strict):
    sms_per_day: int = Field(default=3, ge=0)
    email_per_day: int = Field(default=3, ge=0)

    def for_channel(self, channel: str) -> int:
        return self.sms_per_day if channel == "sms" else self.email_per_day


class RulesFile(_Strict):
    quiet_hours: dict[str, Any] = {}
    caps: Caps = Caps()
    rules: list[Rule] = []

    @model_validator(mode="after")
    def _unique_ids(self) -> RulesFile:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        QuietHours.from_config(self.quiet_hours)
        return self

    @cached_property
    def hours(self) -> QuietHours:
        return QuietHours.from_config(self.quiet_hours)

    def rule(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)

    def matching(self, kind: str, values: dict[str, Any]) -> list[Rule]:
        return [rule for rule in self.rules if rule.matches(kind, values)]

    @property
    def thresholds(self) -> list[float]:
        return sorted(
            {
                r.trigger.threshold
                for r in self.rules
                if r.trigger.threshold is not None and r.enabled
            }
        )

    @property
    def no_contact_days(self) -> list[int]:
        return sorted({r.trigger.days for r in self.rules if r.trigger.days and r.enabled})


class RulesError(ValueError):
    """The rules file is unusable; the message lists every problem, each by rule and field."""


def load_rules(path: Path | str | None = None) -> RulesFile:
    path = Path(path) if path else DEFAULT_RULES_FILE
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise RulesError(f"{path}: cannot read the automations file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: not valid YAML: {exc}") from None
    try:
        return RulesFile.model_validate(document)
    except ValidationError as exc:
        raise RulesError(f"{path}: {_describe(exc, document)}") from None


def _describe(exc: ValidationError, document: Any) -> str:
    problems = []
    for error in exc.errors():
        location = list(error["loc"])
        where = ""
        if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
            index = location[1]
            rules = document.get("rules") if isinstance(document, dict) else None
            rule_id = rules[index].get("id") if isinstance(rules, list) else None
            where = f"rule {rule_id or f'#{index + 1}'}: "
            location = location[2:]
        field = ".".join(str(part) for part in location if not str(part).startswith("function-"))
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}{field or '(rule)'}: {message}")
    return "; ".join(problems)
