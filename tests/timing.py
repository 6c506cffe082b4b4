"""Helpers for tests that count in the API's fixed one-minute rate-limit windows."""

from __future__ import annotations

import time


def clear_of_minute_boundary() -> None:
    """Start a burst well inside one window: a count straddling the boundary would restart."""
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)
