"""Quiet hours: when a message may reach a recipient, judged on the recipient's own clock.

The rule (issue 14): 08:00-21:00 local time, narrower per state where configured, in every zone
the recipient might be in at once. Which zones those are is ``orchestrator.recipient_zones``'
question (re-exported here, so the send-time gate imports one module).

Pure functions over zoneinfo, so the send-time gate can ask "may this go now, and if not,
when?" without I/O, and tests can drive any clock. Every local date is computed on the real
calendar with zoneinfo: DST gaps and repeated hours are handled by the zone, not by offsets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from orchestrator.recipient_zones import DEFAULT_ZONES, Zones, zones_for
from orchestrator.us_time_zones import STATE_ZONES

__all__ = [
    "DEFAULT_WINDOW",
    "DEFAULT_ZONES",
    "SEARCH_HORIZON",
    "STATUTORY_STATE_WINDOWS",
    "QuietHours",
    "Window",
    "Zones",
    "allowed_at",
    "local_day_bounds",
    "next_allowed",
    "zones_for",
]

MINUTE = timedelta(minutes=1)
# A common window, if there is one, recurs every local day; three days covers any DST change
# and any pairing of zones whose window opens only after the next midnight somewhere.
SEARCH_HORIZON = timedelta(days=3)
_WINDOW_TEXT = re.compile(r"^\s*(\d{2}:\d{2})\s*-\s*(\d{2}:\d{2})\s*$")


@dataclass(frozen=True)
class Window:
    """Local wall-clock hours in which sending is allowed: ``start`` inclusive, ``end`` exclusive.

    A window never wraps midnight (start < end); no rule in the issue needs one.
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time) or value.tzinfo is not None:
                raise ValueError(f"{name}: must be a wall-clock time without a time zone")
        if not self.start < self.end:
            raise ValueError(f"end: must be later than start ({self.start} .. {self.end})")

    @classmethod
    def parse(cls, text: str, *, key: str) -> Window:
        """Parse ``"HH:MM-HH:MM"``; errors name ``key``, the config path the text came from."""
        match = _WINDOW_TEXT.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"{key}: expected 'HH:MM-HH:MM', got {text!r}")
        try:
            return cls(time.fromisoformat(match[1]), time.fromisoformat(match[2]))
        except ValueError as error:
            raise ValueError(f"{key}: {error}") from None

    def intersect(self, other: Window) -> Window | None:
        start, end = max(self.start, other.start), min(self.end, other.end)
        return Window(start, end) if start < end else None

    def contains(self, local: time) -> bool:
        return self.start <= local < self.end

    def __str__(self) -> str:
        return f"{self.start.isoformat('minutes')}-{self.end.isoformat('minutes')}"


DEFAULT_WINDOW = Window(time(8), time(21))

# State laws stricter than the federal 08:00-21:00 (47 CFR 64.1200(c)(1)) that apply every day
# and reach text messages: Florida (Fla. Stat. 501.616(6)(a),
# 8 am-8 pm since 2021), Oklahoma (Telephone Solicitation Act, 15 O.S. 775C.4, 2022) and Maryland
# (Stop the Spam Calls Act, 2023). Shipped because an hour's delay costs little and a late text
# in these states is a lawsuit. Other state rules (Connecticut 9 am-8 pm, Sunday bans in
# Alabama, Louisiana, Mississippi, Texas's Sunday noon start) are not encoded: they have a narrower
# scope or a day-of-week shape; an operator adds a state's window in the automations file.
STATUTORY_STATE_WINDOWS: Mapping[str, Window] = MappingProxyType(
    {state: Window(time(8), time(20)) for state in ("FL", "OK", "MD")}
)


@dataclass(frozen=True)
class QuietHours:
    """The allowed sending window: a default and per-state windows that narrow it.

    A state's window is intersected with the default, so a state entry can only make sending
    stricter. When the recipient's state is unknown, every state window applies at once (the
    strictest hours), for the same reason unknown zones mean all zones.
    """

    default: Window = DEFAULT_WINDOW
    by_state: Mapping[str, Window] = field(default_factory=lambda: STATUTORY_STATE_WINDOWS)

    def __post_init__(self) -> None:
        for state, window in self.by_state.items():
            if state not in STATE_ZONES:
                raise ValueError(f"states.{state}: not a US state or territory code")
            if self.default.intersect(window) is None:
                raise ValueError(
                    f"states.{state}: {window} does not overlap the default {self.default}"
                )
        if _intersect_all(self.default, self.by_state.values()) is None:
            raise ValueError(
                "states: the state windows share no common hours, so a recipient whose state is "
                "unknown could never be reached"
            )

    @classmethod
    def from_config(cls, mapping: Mapping[str, Any]) -> QuietHours:
        """Read ``{"default": "08:00-21:00", "states": {"FL": "08:00-20:00"}}``.

        Both keys are optional. Configured states replace the shipped statutory window of that
        state (the operator's legal call) and keep the others.
        """
        if not isinstance(mapping, Mapping):
            raise ValueError("quiet_hours: expected a mapping with 'default' and 'states'")
        unknown = sorted(set(mapping) - {"default", "states"})
        if unknown:
            raise ValueError(f"quiet_hours.{unknown[0]}: unknown key (allowed: default, states)")
        default = DEFAULT_WINDOW
        if "default" in mapping:
            default = Window.parse(mapping["default"], key="quiet_hours.default")
        states = mapping.get("states") or {}
        if not isinstance(states, Mapping):
            raise ValueError(
                "quiet_hours.states: expected a mapping of state code to 'HH:MM-HH:MM'"
            )
        by_state = dict(STATUTORY_STATE_WINDOWS)
        for state, text in states.items():
            key = f"quiet_hours.states.{state}"
            if state not in STATE_ZONES:
                raise ValueError(f"{key}: not a US state or territory code")
            by_state[state] = Window.parse(text, key=key)
        try:
            return cls(default, MappingProxyType(by_state))
        except ValueError as error:
            raise ValueError(f"quiet_hours.{error}") from None

    def window_for(self, state: str | None) -> Window:
        """The effective window; never empty (``__post_init__`` checks every combination)."""
        if state is None:
            windows: Iterable[Window] = self.by_state.values()
        else:
            windows = [self.by_state[state]] if state in self.by_state else []
        effective = _intersect_all(self.default, windows)
        assert effective is not None, "checked when the QuietHours was built"
        return effective


def _intersect_all(default: Window, windows: Iterable[Window]) -> Window | None:
    effective: Window | None = default
    for window in windows:
        effective = effective.intersect(window) if effective is not None else None
    return effective


def allowed_at(now: datetime, zones: Zones, hours: QuietHours, state: str | None) -> bool:
    """Whether ``now`` is inside the window on the local clock of every zone."""
    instant = _as_utc(now)
    window = hours.window_for(state)
    return all(window.contains(instant.astimezone(ZoneInfo(name)).time()) for name in zones.names)


def next_allowed(
    now: datetime, zones: Zones, hours: QuietHours, state: str | None
) -> datetime | None:
    """``now`` if sending is allowed, else the first whole UTC minute that is; None if none is.

    Only two things can move a zone's clock into the window: reaching the window's start, or a
    clock change (a DST jump). So instead of trying every minute, the candidates are the next
    whole minute and those instants, rounded up to the minute, within ``SEARCH_HORIZON``; the
    first candidate allowed in every zone is the answer. None means the zones share no
    window (New York, London and Guam at once), which the core records as blocked, not deferred.
    """
    instant = _as_utc(now)
    if allowed_at(instant, zones, hours, state):
        return now
    first = _ceil_minute(instant + timedelta(microseconds=1))
    horizon = instant + SEARCH_HORIZON
    window = hours.window_for(state)
    candidates = {first}
    for name in zones.names:
        zone = ZoneInfo(name)
        events = [
            *_window_starts(zone, window, instant, horizon),
            *_clock_changes(zone, instant, horizon),
        ]
        candidates.update(_ceil_minute(event) for event in events if event > instant)
    for candidate in sorted(c for c in candidates if first <= c <= horizon):
        if allowed_at(candidate, zones, hours, state):
            return candidate
    return None


def local_day_bounds(now: datetime, zones: Zones) -> tuple[datetime, datetime]:
    """The recipient's local calendar day around ``now``, as UTC ``[start, end)``.

    It feeds the per-day frequency cap only, so with several zones one is enough: the first
    name in sorted order, which is deterministic. The day is 23 or 25 hours on DST days.
    """
    zone = ZoneInfo(sorted(zones.names)[0])
    today = _as_utc(now).astimezone(zone).date()
    return _local_midnight(today, zone), _local_midnight(today + timedelta(days=1), zone)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    # fold=0 makes a midnight that falls in a DST gap the gap's start, the day's first instant.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _as_utc(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now: must be timezone-aware (UTC)")
    return now.astimezone(UTC)


def _ceil_minute(moment: datetime) -> datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + MINUTE


def _window_starts(
    zone: ZoneInfo, window: Window, since: datetime, until: datetime
) -> Iterator[datetime]:
    """Every instant the zone's clock reads ``window.start`` (twice in a repeated hour)."""
    day = since.astimezone(zone).date() - timedelta(days=1)
    last = until.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        for fold in (0, 1):
            yield (
                datetime.combine(day, window.start, tzinfo=zone).replace(fold=fold).astimezone(UTC)
            )
        day += timedelta(days=1)


def _clock_changes(zone: ZoneInfo, since: datetime, until: datetime) -> Iterator[datetime]:
    """The instants the zone's UTC offset changes; found hourly, then to the second."""
    step = timedelta(hours=1)
    moment, offset = since, since.astimezone(zone).utcoffset()
    while moment < until:
        following = moment + step
        following_offset = following.astimezone(zone).utcoffset()
        if following_offset != offset:
            yield _first_with_offset(zone, moment, following, following_offset)
        moment, offset = following, following_offset


def _first_with_offset(
    zone: ZoneInfo, before: datetime, after: datetime, offset: timedelta | None
) -> datetime:
    """Bisect to the first second in ``(before, after]`` at which the zone has ``offset``."""
    while after - before > timedelta(seconds=1):
        middle = before + timedelta(seconds=(after - before).total_seconds() // 2)
        if middle.astimezone(zone).utcoffset() == offset:
            after = middle
        else:
            before = middle
    return after
