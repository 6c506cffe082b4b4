"""Delivery status callbacks, posted from one background thread, signed as Twilio signs them."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping

import httpx

from orchestrator.channels.inbound import twilio_signature

logger = logging.getLogger(__name__)
CALLBACK_TIMEOUT_SECONDS = 10.0


class StatusCallbacks:
    """A queue of (url, params) posts; `stop` sends what is queued, then ends the thread."""

    def __init__(self, auth_token: str) -> None:
        self.auth_token = auth_token
        self._queue: queue.Queue[tuple[str, dict[str, str]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="hk-sms-callbacks", daemon=True)
        self.delivered = 0
        self.failed = 0

    def start(self) -> StatusCallbacks:
        self._thread.start()
        return self

    def deliver(self, url: str, params: Mapping[str, str]) -> None:
        self._queue.put((url, dict(params)))

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(timeout=CALLBACK_TIMEOUT_SECONDS) as client:
            while (item := self._queue.get()) is not None:
                self._post(client, *item)

    def _post(self, client: httpx.Client, url: str, params: dict[str, str]) -> None:
        signature = twilio_signature(url, params, self.auth_token)
        try:
            response = client.post(url, data=params, headers={"X-Twilio-Signature": signature})
        except httpx.HTTPError as exc:
            self.failed += 1
            # The type only: the URL may carry a token and the params carry phone numbers.
            logger.warning("sms sink: status callback not delivered (%s)", type(exc).__name__)
            return
        if response.is_success:
            self.delivered += 1
        else:
            self.failed += 1
            logger.warning("sms sink: status callback answered %s", response.status_code)
