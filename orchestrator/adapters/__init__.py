"""Adapters: one task in, one call to an assistant, one validated result out.

The worker owns the life cycle (attempts, backoff, escalation); an adapter owns one attempt.
It answers with an ``AdapterAnswer`` whose ``result`` has passed ``call.result_model``, or
raises ``AdapterError`` saying whether another attempt is worth it. Either way what was sent
and what came back travel with it, so the worker can store them with the task: they hold the
lead's context, so they belong in the task row and never in a log line.

Two kinds: ``offline`` (the default, deterministic, works from the platform's own data, see
``offline.py``) and ``openai`` (any OpenAI-compatible chat-completions endpoint, see
``openai_compat.py``). ``AdapterSpec`` is the YAML shape of either; a key is never in YAML,
only the name of the environment variable holding it, read when the adapter is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


@dataclass(frozen=True)
class AdapterCall:
    task_id: int
    kind: str  # task kind, e.g. "research"
    assistant: str  # assistant id, e.g. "researcher"
    instructions: str  # the assistant's rendered prompt template (system message)
    input: dict[str, Any]  # the task's input JSON
    context: dict[str, Any]  # lead_context(...) or {} when the task has no lead
    result_model: type[BaseModel]
    timeout: float  # seconds


@dataclass(frozen=True)
class AdapterAnswer:
    request: dict[str, Any]  # what was sent, JSON-serialisable (stored as the task's prompt)
    raw: str  # the answer as received (stored)
    result: dict[str, Any]  # result_model(...).model_dump(mode="json")
    model: str | None = None
    usage: dict[str, Any] | None = None


class AdapterError(Exception):
    """A failed attempt. transient: worth retrying (timeouts, 5xx, 429, an answer that does not
    validate); otherwise the task escalates at once (4xx such as a bad key). retry_after: seconds
    a provider asked for. request/raw: what was sent and received, kept with the attempt.
    invalid: an answer came back but is not JSON or does not fit the result model."""

    def __init__(
        self,
        reason: str,
        *,
        transient: bool,
        retry_after: float | None = None,
        request: dict[str, Any] | None = None,
        raw: str | None = None,
        invalid: bool = False,
    ) -> None:
        super().__init__(reason)
        self.invalid = invalid
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after
        self.request = request
        self.raw = raw

    def __repr__(self) -> str:
        # Never the request or raw answer: an exception's repr ends up in logs.
        return (
            f"AdapterError({self.reason!r}, transient={self.transient}, "
            f"retry_after={self.retry_after})"
        )


class Adapter(Protocol):
    name: str

    async def run(self, call: AdapterCall) -> AdapterAnswer: ...

    async def aclose(self) -> None: ...


class AdapterSpec(BaseModel):
    """How to reach one assistant (a block of the orchestrator's YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["offline", "openai"] = "offline"
    base_url: str | None = Field(default=None, description="e.g. https://api.openai.com/v1")
    model: str | None = Field(default=None, description="The provider's model name.")
    api_key_env: str | None = Field(
        default=None, description="Name of the environment variable holding the API key."
    )
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    temperature: float | None = Field(default=None, ge=0, le=2)
    structured_output: Literal["json_schema", "json_object"] = "json_schema"

    @model_validator(mode="after")
    def _openai_needs_endpoint(self) -> AdapterSpec:
        if self.type == "openai":
            missing = [name for name in ("base_url", "model") if not getattr(self, name)]
            if missing:
                raise ValueError(f"{' and '.join(missing)}: required for an adapter of type openai")
        return self


def build_adapter(spec: AdapterSpec) -> Adapter:
    """The adapter ``spec`` describes; an openai adapter's key is read from the environment now.

    Raises ValueError naming the environment variable when it is not set."""
    if spec.type == "offline":
        from orchestrator.adapters.offline import OfflineAdapter

        return OfflineAdapter()
    from orchestrator.adapters.openai_compat import OpenAICompatAdapter

    api_key = _api_key(spec.api_key_env)
    assert spec.base_url is not None and spec.model is not None  # the validator saw to it
    return OpenAICompatAdapter(
        base_url=spec.base_url,
        model=spec.model,
        api_key=api_key,
        timeout=spec.timeout_seconds,
        temperature=spec.temperature,
        structured_output=spec.structured_output,
    )


def _api_key(env_name: str | None) -> str:
    # A local server (vLLM, Ollama) takes no key, but the client insists on one: a fixed
    # placeholder is sent, so a spec without api_key_env is a deliberate choice.
    if env_name is None:
        return "no-key"
    value = os.environ.get(env_name)
    if not value:
        raise ValueError(f"api_key_env: the environment variable {env_name} is not set")
    return value


def summarise_errors(exc: ValidationError, limit: int = 5) -> str:
    """Pydantic's errors as one line: 'body: Value error, ...; low: Input should be ...'."""
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "(answer)"
        parts.append(f"{where}: {error['msg']}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
