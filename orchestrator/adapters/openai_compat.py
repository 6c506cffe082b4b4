"""Any OpenAI-compatible chat-completions endpoint (OpenAI, Azure, vLLM, Ollama, most
gateways) as an adapter, through the ``openai`` client library.

The client never retries (``max_retries=0``): the worker owns attempts and backoff, so one
``run`` is one HTTP call and a timeout is the one the task set. Every failure is sorted into
transient (timeouts, connection errors, 429, 5xx, an answer that is not the schema) or not
(other 4xx: a bad key or a bad request does not get better by asking again).

The answer is asked for in the result model's JSON schema. OpenAI's strict mode wants every
object closed (``additionalProperties: false``) and every property required, which pydantic's
schema is not for fields with defaults: ``strict_schema`` makes it so. A field that may be
None keeps its ``anyOf [..., null]``; one with a default but no None is required outright,
since a null there would fail validation anyway. Servers that do not know ``json_schema``
(older vLLM, some gateways) take ``structured_output: json_object`` and the schema's name in
the system message; the answer is validated the same way.

Prompt and answer hold the lead's context: they go back in the answer or the error for the
task row, and the log says only the task, the outcome and the time taken.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
from typing import Any, Literal

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

from orchestrator.adapters import AdapterAnswer, AdapterCall, AdapterError, summarise_errors

log = logging.getLogger(__name__)


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema in the form OpenAI's strict structured output accepts."""
    schema = model.model_json_schema()
    return _strict(copy.deepcopy(schema), schema.get("$defs", {}))


def _strict(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_strict(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) > 1:
        # Strict mode refuses a $ref with siblings (a description next to it): inline it.
        target = defs[ref.rsplit("/", 1)[-1]]
        node = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
    # Every property is required, so a default says nothing (and strict mode rejects it).
    out = {key: _strict(value, defs) for key, value in node.items() if key != "default"}
    if isinstance(out.get("properties"), dict):
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    elif out.get("type") == "object":
        out.setdefault("additionalProperties", False)
    return out


def response_format(
    model: type[BaseModel], structured_output: Literal["json_schema", "json_object"]
) -> dict[str, Any]:
    if structured_output == "json_object":
        return {"type": "json_object"}
    return {
        "type": "json_schema",
        "json_schema": {"name": model.__name__, "schema": strict_schema(model), "strict": True},
    }


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    millis = headers.get("retry-after-ms")
    seconds = headers.get("retry-after")
    try:
        if millis is not None:
            return float(millis) / 1000
        if seconds is not None:
            return float(seconds)
    except ValueError:
        return None  # an HTTP date: the worker's own backoff is as good
    return None


class OpenAICompatAdapter:
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str,
        timeout: float = 30,
        temperature: float | None = None,
        structured_output: Literal["json_schema", "json_object"] = "json_schema",
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.timeout = timeout
        self.temperature = temperature
        self.structured_output = structured_output
        self._client = AsyncOpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0
        )

    def request_for(self, call: AdapterCall) -> dict[str, Any]:
        """The chat-completions request body for ``call`` (also what is stored as the prompt)."""
        schema_line = (
            f"Answer with one JSON object matching the schema {call.result_model.__name__}"
            + (
                f": {json.dumps(strict_schema(call.result_model))}"
                if self.structured_output == "json_object"
                else "."
            )
        )
        user = {"task": call.kind, "input": call.input, "context": call.context}
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": f"{call.instructions}\n\n{schema_line}".strip()},
                {"role": "user", "content": json.dumps(user, ensure_ascii=False)},
            ],
            "response_format": response_format(call.result_model, self.structured_output),
        }
        if self.temperature is not None:
            request["temperature"] = self.temperature
        return request

    async def run(self, call: AdapterCall) -> AdapterAnswer:
        request = self.request_for(call)
        started = time.monotonic()
        try:
            response = await self._client.chat.completions.create(
                **request, timeout=call.timeout or self.timeout
            )
        except openai.APITimeoutError as exc:
            raise self._failed(call, started, "timeout", True, request) from exc
        except openai.APIConnectionError as exc:
            raise self._failed(call, started, f"connection: {exc}", True, request) from exc
        except openai.APIStatusError as exc:
            status = exc.status_code
            transient = status >= 500 or status == 429
            raw = exc.response.text if exc.response is not None else None
            raise self._failed(
                call,
                started,
                f"HTTP {status}: {_error_message(exc)}",
                transient,
                request,
                raw=raw,
                retry_after=_retry_after(exc.response) if transient else None,
            ) from exc
        except openai.APIError as exc:
            # A body the client could not read as a completion: the server's fault.
            reason = f"bad response: {type(exc).__name__}"
            raise self._failed(call, started, reason, True, request) from exc
        if not isinstance(response, ChatCompletion):
            # The client hands back a body that is not JSON (a proxy's HTML page) as text.
            reason = "bad response: the body is not a chat completion"
            raise self._failed(call, started, reason, True, request, raw=str(response))
        raw = response.model_dump_json()
        if not response.choices:
            raise self._failed(call, started, "empty answer: no choices", True, request, raw=raw)
        message = response.choices[0].message
        if not message.content:
            refusal = getattr(message, "refusal", None)
            reason = f"refused: {refusal}" if refusal else "empty answer: no content"
            raise self._failed(call, started, reason, True, request, raw=raw)
        raw = message.content
        try:
            answer = json.loads(_unfenced(raw))
        except json.JSONDecodeError as exc:
            reason = f"the answer is not JSON ({exc.msg} at character {exc.pos})"
            raise self._failed(call, started, reason, True, request, raw=raw, invalid=True) from exc
        try:
            result = call.result_model.model_validate(answer).model_dump(mode="json")
        except ValidationError as exc:
            reason = (
                f"the answer does not fit {call.result_model.__name__}: {summarise_errors(exc)}"
            )
            raise self._failed(call, started, reason, True, request, raw=raw, invalid=True) from exc
        log.info("task %s: answered by %s in %.2fs", call.task_id, self.model, _since(started))
        usage = response.usage.model_dump(mode="json") if response.usage else None
        return AdapterAnswer(
            request=request, raw=raw, result=result, model=response.model, usage=usage
        )

    def _failed(
        self,
        call: AdapterCall,
        started: float,
        reason: str,
        transient: bool,
        request: dict[str, Any],
        *,
        raw: str | None = None,
        retry_after: float | None = None,
        invalid: bool = False,
    ) -> AdapterError:
        # The reason of a schema mismatch may quote the answer, so the log keeps to the kind.
        outcome = "transient failure" if transient else "failure"
        log.warning(
            "task %s: %s from %s after %.2fs (%s)",
            call.task_id,
            outcome,
            self.model,
            _since(started),
            reason.split(":", 1)[0],
        )
        return AdapterError(
            reason, transient=transient, retry_after=retry_after, request=request, raw=raw,
            invalid=invalid,
        )  # fmt: skip

    async def aclose(self) -> None:
        await self._client.close()


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(?P<body>.*?)\n\s*```\s*$", re.DOTALL)


def _unfenced(content: str) -> str:
    """The JSON inside a Markdown code fence, which models in json_object mode (Ollama,
    small vLLM models) often add: the answer is right, only wrapped."""
    match = _FENCE.match(content)
    return match["body"] if match else content


def _since(started: float) -> float:
    return time.monotonic() - started


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])[:300]
    return str(exc.message)[:300]
