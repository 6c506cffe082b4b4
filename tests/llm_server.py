"""A real OpenAI-compatible chat-completions server on loopback, for tests and worker runs.

``with LlmServer() as server:`` serves ``POST /v1/chat/completions`` (uvicorn in a thread,
through serving.background.BackgroundServer) at ``server.base_url``. It is a real socket, so
``hk worker`` processes started by a test can be pointed at it. What each call does is
scripted: ``server.script(["500", "ok"])`` is consumed one entry per call, and ``default``
("ok") answers once the script is used up.

- ``ok``: the JSON of ``answer(request_body)``; the default answer is what the offline
  adapter would produce for the task in the user message, so it fits the task's schema;
  ``fenced``: the same inside a Markdown ```json fence;
- ``garbage``: content that is not JSON; ``invalid``: JSON that is not the schema (the first
  field of the ok answer removed and an unknown one added); ``empty``: no choices;
  ``html``: status 200 with an HTML page for a body (a proxy in the way);
- ``500``, ``503``, ``401``, ``400``: that status with OpenAI's error body; ``429`` also
  sends ``Retry-After: 1``;
- ``timeout``: waits ``slow_seconds`` (or until the client hangs up), then answers ok.

Every request body is kept in ``server.requests`` (and its headers in ``server.headers``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from orchestrator.adapters.lead_view import read_lead
from orchestrator.adapters.offline import KINDS
from serving.background import BackgroundServer

BEHAVIOURS = (
    "ok", "fenced", "garbage", "invalid", "empty", "html",
    "500", "503", "429", "401", "400", "timeout",
)  # fmt: skip
Answer = Callable[[dict[str, Any]], dict[str, Any]]


def offline_answer(body: dict[str, Any]) -> dict[str, Any]:
    """What the offline adapter answers for the task in the request's user message."""
    task = json.loads(body["messages"][-1]["content"])
    work = KINDS.get(task.get("task"))
    if work is None:
        return {}
    context, task_input = task.get("context") or {}, task.get("input") or {}
    return work(read_lead(context, task_input), task_input)


class LlmServer:
    def __init__(
        self,
        *,
        answer: Answer = offline_answer,
        default: str = "ok",
        slow_seconds: float = 3.0,
        api_key: str | None = None,
    ) -> None:
        if default not in BEHAVIOURS:
            raise ValueError(f"default: one of {', '.join(BEHAVIOURS)}, got {default!r}")
        self.answer = answer
        self.default = default
        self.slow_seconds = slow_seconds
        self.api_key = api_key  # when set, another bearer token gets 401
        self._lock = threading.Lock()
        self._script: list[str] = []
        self._requests: list[dict[str, Any]] = []
        self._headers: list[dict[str, str]] = []
        self._background = BackgroundServer(self._app())
        self.base_url = f"{self._background.base_url}/v1"

    def script(self, behaviours: Iterable[str]) -> None:
        """Queue behaviours for the next calls, in order (after any still queued)."""
        queued = list(behaviours)
        unknown = [b for b in queued if b not in BEHAVIOURS]
        if unknown:
            raise ValueError(f"unknown behaviours {unknown}: use {', '.join(BEHAVIOURS)}")
        with self._lock:
            self._script.extend(queued)

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    @property
    def headers(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self._headers)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self._requests)

    def __enter__(self) -> LlmServer:
        self._background.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._background.__exit__(*exc)

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> str:
        with self._lock:
            self._requests.append(body)
            self._headers.append(headers)
            return self._script.pop(0) if self._script else self.default

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> JSONResponse:
            body = await request.json()
            headers = {k.lower(): v for k, v in request.headers.items()}
            behaviour = self._next(body, headers)
            if (
                self.api_key is not None
                and headers.get("authorization") != f"Bearer {self.api_key}"
            ):
                behaviour = "401"
            if behaviour == "timeout":
                for _ in range(max(1, int(self.slow_seconds / 0.05))):
                    if await request.is_disconnected():
                        break
                    await asyncio.sleep(0.05)
                behaviour = "ok"
            if behaviour.isdigit():
                return _error(int(behaviour))
            if behaviour == "html":
                return HTMLResponse("<html><body>Bad gateway</body></html>")
            if behaviour == "empty":
                return JSONResponse(_completion(body, None) | {"choices": []})
            if behaviour == "garbage":
                return JSONResponse(_completion(body, "Sure! Here is the brief you asked for"))
            answer = self.answer(body)
            if behaviour == "invalid":
                answer = dict(list(answer.items())[1:]) | {"unexpected_field": 1}
            content = json.dumps(answer)
            if behaviour == "fenced":
                content = f"```json\n{content}\n```"
            return JSONResponse(_completion(body, content))

        return app


def _completion(body: dict[str, Any], content: str | None) -> dict[str, Any]:
    prompt_tokens = sum(len(str(m.get("content", ""))) // 4 for m in body.get("messages", []))
    completion_tokens = len(content or "") // 4
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": body.get("model", "test-model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


_ERRORS = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("invalid_request_error", "Incorrect API key provided"),
    429: ("rate_limit_error", "Rate limit reached"),
    500: ("server_error", "The server had an error while processing your request"),
    503: ("server_error", "The engine is currently overloaded"),
}


def _error(status: int) -> JSONResponse:
    kind, message = _ERRORS.get(status, ("server_error", f"HTTP {status}"))
    headers = {"Retry-After": "1"} if status == 429 else None
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": None}},
        status_code=status,
        headers=headers,
    )
