"""The assistants and the task kinds: a YAML file validated before any task runs.

Each task kind names the result it produces (a pydantic model in ``orchestrator/results.py``),
whether it leaves the company (then it waits for approval, with a deadline) and what an approved
result does. Each assistant names the kinds it takes, its adapter, its prompt template, a
timeout, a concurrency limit and its attempts. Routing picks the assistant that takes a task's
kind; the human (Steve) takes escalations and every task marked for a person.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped]
from jinja2 import TemplateError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.adapters import AdapterSpec
from orchestrator.results import RESULTS
from orchestrator.rules import parse_duration, template_environment

DEFAULT_ASSISTANTS_FILE = Path(__file__).with_name("assistants.yaml")
ESCALATION = "escalation"
_ENV = template_environment()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Kind(_Strict):
    result: str | None = Field(
        default=None, description="Result model (orchestrator/results.py); none for human work."
    )
    approval: bool = Field(default=False, description="Leaves the company: waits for approval.")
    approval_deadline: str = Field(default="24h", description="Then it escalates to the human.")
    on_approve: Literal["none", "send_message", "make_offer"] = "none"
    description: str = ""

    @field_validator("result")
    @classmethod
    def _known_result(cls, value: str | None) -> str | None:
        if value is not None and value not in RESULTS:
            raise ValueError(f"unknown result {value!r}; results are {', '.join(sorted(RESULTS))}")
        return value

    @field_validator("approval_deadline")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def deadline(self) -> timedelta:
        return parse_duration(self.approval_deadline)

    @property
    def result_model(self) -> type[BaseModel] | None:
        return RESULTS[self.result] if self.result else None


class Assistant(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    name: str
    role: str = ""
    human: bool = False
    kinds: list[str] = Field(default_factory=list)
    adapter: AdapterSpec = Field(default_factory=AdapterSpec)
    prompt: str = Field(default="", description="Jinja2 over task, input and context.")
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    concurrency: int = Field(default=4, ge=1, le=1000)
    max_attempts: int = Field(default=3, ge=1, le=20)

    @field_validator("prompt")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            _ENV.from_string(value)
        except TemplateError as exc:
            raise ValueError(f"the prompt template does not parse: {exc}") from exc
        return value

    def render_prompt(self, task: dict[str, Any], context: dict[str, Any]) -> str:
        return _ENV.from_string(self.prompt).render(
            task=task, input=task.get("input") or {}, context=context, assistant=self
        )


class Retry(_Strict):
    base_seconds: float = Field(default=5.0, gt=0)
    max_seconds: float = Field(default=600.0, gt=0)


class Catalog(_Strict):
    """The validated file: ``catalog.route(kind)`` is the assistant a new task goes to."""

    kinds: dict[str, Kind]
    assistants: list[Assistant]
    retry: Retry = Field(default_factory=Retry)

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        ids = [a.id for a in self.assistants]
        if len(set(ids)) != len(ids):
            raise ValueError(f"assistant ids repeat: {sorted(ids)}")
        humans = [a for a in self.assistants if a.human]
        if len(humans) != 1:
            raise ValueError("exactly one assistant must be the human (human: true)")
        if ESCALATION not in self.kinds:
            raise ValueError(f"the kind {ESCALATION!r} (a person's escalated task) is required")
        taken: dict[str, str] = {}
        for assistant in self.assistants:
            for kind in assistant.kinds:
                if kind not in self.kinds:
                    raise ValueError(f"assistant {assistant.id}: unknown kind {kind!r}")
                if kind in taken and not assistant.human:
                    raise ValueError(f"kind {kind!r} is taken by {taken[kind]} and {assistant.id}")
                if not assistant.human:
                    taken[kind] = assistant.id
        for name, spec in self.kinds.items():
            if name != ESCALATION and name not in taken and spec.result is not None:
                raise ValueError(f"kind {name!r}: no assistant takes it")
        return self

    @property
    def human(self) -> Assistant:
        return next(a for a in self.assistants if a.human)

    def assistant(self, assistant_id: str) -> Assistant | None:
        return next((a for a in self.assistants if a.id == assistant_id), None)

    def route(self, kind: str, *, human: bool = False) -> Assistant:
        """The assistant for a new task of ``kind`` (the human when asked for or when no
        assistant takes it)."""
        if kind not in self.kinds:
            raise KeyError(kind)
        if human or kind == ESCALATION or self.kinds[kind].result is None:
            return self.human
        return next(a for a in self.assistants if kind in a.kinds and not a.human)


class CatalogError(ValueError):
    """A file that does not validate: every problem, each named by its place in the file."""


def parse_catalog(text: str, source: str = "<string>") -> Catalog:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{source}: not YAML: {exc}") from exc
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            place = ".".join(_place(data, error["loc"]))
            problems.append(f"{place or '(top)'}: {error['msg']}")
        raise CatalogError(f"{source}:\n  " + "\n  ".join(problems)) from exc


def _place(data: Any, loc: tuple) -> list[str]:
    """Name list items by their id when they have one: ``assistants[researcher].prompt``."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int) and isinstance(node, list) and item < len(node):
            node = node[item]
            label = node.get("id") if isinstance(node, dict) else None
            parts[-1] = f"{parts[-1]}[{label if label else item}]" if parts else str(item)
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return parts


def load_catalog(path: Path | None = None) -> Catalog:
    path = path or DEFAULT_ASSISTANTS_FILE
    return parse_catalog(path.read_text(), str(path))


@lru_cache(maxsize=4)
def default_catalog(path: Path | None = None) -> Catalog:
    return load_catalog(path)
