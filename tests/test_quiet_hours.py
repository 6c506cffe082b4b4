"""Quiet hours on the recipient's clock: deferral to the next allowed minute, DST days, zones
from the address or the phone, state windows, and the local day that the frequency cap counts."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.quiet_hours import (
    DEFAULT_WINDOW,
    SEARCH_HORIZON,
    QuietHours,
    Window,
    Zones,
    allowed_at,
    local_day_bounds,
    next_allowed,
    zones_for,
)
from orchestrator.us_time_zones import CONTIGUOUS_US, STATE_ZONES, ZIP_ZONES

HOURS = QuietHours()
CHICAGO = ZoneInfo("America/Chicago")
AUSTIN = zones_for(state="TX", zip_code="78701", phone_e164=None)


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    """A wall-clock moment in ``zone`` as the UTC instant the core would pass."""
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def deferred(now: datetime, zones: Zones, state: str | None, hours: QuietHours = HOURS) -> datetime:
    result = next_allowed(now, zones, hours, state)
    assert result is not None
    return result


def test_austin_at_22_30_waits_for_08_00_the_next_morning():
    result = deferred(local("America/Chicago", 2026, 1, 14, 22, 30), AUSTIN, "TX")
    assert result == local("America/Chicago", 2026, 1, 15, 8, 0)
    assert result.tzinfo is UTC


def test_half_a_minute_before_opening_waits_for_08_00():
    result = deferred(local("America/Chicago", 2026, 1, 15, 7, 59, 30), AUSTIN, "TX")
    assert result == local("America/Chicago", 2026, 1, 15, 8, 0)


def test_inside_the_window_sends_now_unrounded():
    now = local("America/Chicago", 2026, 1, 15, 12, 34, 56, 789)
    assert next_allowed(now, AUSTIN, HOURS, "TX") is now
    assert allowed_at(now, AUSTIN, HOURS, "TX")


def test_the_window_end_is_exclusive():
    assert allowed_at(local("America/Chicago", 2026, 1, 15, 20, 59, 59), AUSTIN, HOURS, "TX")
    assert not allowed_at(local("America/Chicago", 2026, 1, 15, 21, 0), AUSTIN, HOURS, "TX")


def test_spring_forward_sunday_defers_to_08_00_daylight_time():
    before = deferred(local("America/Chicago", 2026, 2, 28, 22, 30), AUSTIN, "TX")
    across = deferred(local("America/Chicago", 2026, 3, 7, 22, 30), AUSTIN, "TX")
    assert before.astimezone(CHICAGO).time() == across.astimezone(CHICAGO).time() == time(8)
    assert across.date().isoformat() == "2026-03-08"
    assert (before.hour, across.hour) == (14, 13)  # 08:00 CST, then 08:00 CDT


def test_fall_back_sunday_defers_to_08_00_standard_time_from_either_repeated_hour():
    across = deferred(local("America/Chicago", 2026, 10, 31, 22, 30), AUSTIN, "TX")
    first = deferred(local("America/Chicago", 2026, 11, 1, 1, 30, fold=0), AUSTIN, "TX")
    second = deferred(local("America/Chicago", 2026, 11, 1, 1, 30, fold=1), AUSTIN, "TX")
    after = deferred(local("America/Chicago", 2026, 11, 7, 22, 30), AUSTIN, "TX")
    assert across == first == second == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)  # 08:00 CST
    assert after == datetime(2026, 11, 8, 14, 0, tzinfo=UTC)
    week_before = deferred(local("America/Chicago", 2026, 10, 24, 22, 30), AUSTIN, "TX")
    assert week_before.hour == 13  # 08:00 CDT


def test_a_window_opening_inside_the_spring_forward_gap_opens_at_the_jump():
    hours = QuietHours(default=Window(time(2, 30), time(21)), by_state={})
    new_york = Zones(("America/New_York",), "address")
    result = deferred(local("America/New_York", 2026, 3, 8, 1, 0), new_york, "NY", hours)
    assert result == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT, the clock skipped 02:30


def test_a_window_opening_inside_the_repeated_hour_opens_again_on_its_second_pass():
    hours = QuietHours(default=Window(time(1, 30), time(21)), by_state={})
    chicago = Zones(("America/Chicago",), "address")
    second_pass = local("America/Chicago", 2026, 11, 1, 1, 10, fold=1)  # 01:10 CST
    assert not allowed_at(second_pass, chicago, hours, "TX")
    assert deferred(second_pass, chicago, "TX", hours) == local(
        "America/Chicago", 2026, 11, 1, 1, 30, fold=1
    )


def test_the_search_reaches_past_a_25_hour_fall_back_day():
    one_minute = QuietHours(default=Window(time(8), time(8, 1)), by_state={})
    closed = local("America/Chicago", 2026, 10, 31, 8, 1)
    result = deferred(closed, AUSTIN, "TX", one_minute)
    assert result == local("America/Chicago", 2026, 11, 1, 8, 0)
    assert result - closed == timedelta(hours=24, minutes=59)


def test_a_split_state_without_zip_gets_only_the_common_window():
    texas = zones_for(state="TX", zip_code=None, phone_e164=None)
    assert texas == Zones(("America/Chicago", "America/Denver"), "address")
    # 08:30 in Austin is 07:30 in El Paso: wait for 08:00 Mountain.
    assert deferred(local("America/Chicago", 2026, 1, 15, 8, 30), texas, "TX") == local(
        "America/Denver", 2026, 1, 15, 8, 0
    )
    # 20:30 in El Paso is 21:30 in Austin: closed until 09:00 Central the next day.
    assert deferred(local("America/Denver", 2026, 1, 15, 20, 30), texas, "TX") == local(
        "America/Chicago", 2026, 1, 16, 9, 0
    )


def test_a_phone_whose_area_code_spans_two_zones_gets_the_common_window():
    idaho_phone = zones_for(state=None, zip_code=None, phone_e164="+12085551234")
    assert idaho_phone.source == "phone"
    assert idaho_phone.names == ("America/Boise", "America/Los_Angeles")
    hours = QuietHours(by_state={})
    result = next_allowed(local("America/Boise", 2026, 6, 3, 8, 30), idaho_phone, hours, None)
    assert result == local("America/Los_Angeles", 2026, 6, 3, 8, 0)


def test_guam_and_eastern_share_only_a_late_afternoon_in_new_york():
    zones = Zones(("America/New_York", "Pacific/Guam"), "phone")
    result = deferred(local("America/New_York", 2026, 7, 1, 9, 0), zones, "GU")
    assert result == local("Pacific/Guam", 2026, 7, 2, 8, 0)
    assert result.astimezone(ZoneInfo("America/New_York")).time() == time(18)


def test_zones_with_no_common_window_are_none():
    office = QuietHours(default=Window(time(9), time(17)), by_state={})
    guam_and_eastern = Zones(("America/New_York", "Pacific/Guam"), "phone")
    now = local("America/New_York", 2026, 7, 1, 22, 0)
    assert next_allowed(now, guam_and_eastern, office, None) is None
    three_continents = Zones(("America/New_York", "Europe/London", "Pacific/Guam"), "phone")
    assert next_allowed(now, three_continents, HOURS, None) is None


def test_hawaii_keeps_its_hours_when_the_mainland_changes_clocks():
    hawaii = zones_for(state="HI", zip_code="96813", phone_e164=None)
    before = deferred(local("Pacific/Honolulu", 2026, 3, 7, 22, 30), hawaii, "HI")
    after = deferred(local("Pacific/Honolulu", 2026, 3, 8, 22, 30), hawaii, "HI")
    assert (before.hour, after.hour) == (18, 18)
    assert after - before == timedelta(days=1)


def test_arizona_keeps_standard_time_but_the_navajo_nation_does_not():
    phoenix = zones_for(state="AZ", zip_code="85004", phone_e164=None)
    window_rock = zones_for(state="AZ", zip_code="86515", phone_e164=None)
    assert phoenix.names == ("America/Phoenix",)
    assert window_rock.names == ("America/Denver", "America/Phoenix")
    winter = local("America/Phoenix", 2026, 1, 15, 20, 30)
    summer = local("America/Phoenix", 2026, 7, 15, 20, 30)  # 21:30 on Navajo clocks
    assert allowed_at(winter, phoenix, HOURS, "AZ") and allowed_at(winter, window_rock, HOURS, "AZ")
    assert allowed_at(summer, phoenix, HOURS, "AZ")
    assert not allowed_at(summer, window_rock, HOURS, "AZ")
    assert deferred(local("America/Phoenix", 2026, 1, 15, 6, 0), phoenix, "AZ").hour == 15
    assert deferred(local("America/Phoenix", 2026, 7, 15, 6, 0), phoenix, "AZ").hour == 15


def test_florida_ends_at_20_00_by_statute_and_configured_states_narrow_too():
    miami = zones_for(state="FL", zip_code="33101", phone_e164=None)
    atlanta = zones_for(state="GA", zip_code="30301", phone_e164=None)
    evening = local("America/New_York", 2026, 1, 15, 20, 30)
    assert not allowed_at(evening, miami, HOURS, "FL")
    assert deferred(evening, miami, "FL") == local("America/New_York", 2026, 1, 16, 8, 0)
    assert allowed_at(evening, atlanta, HOURS, "GA")
    configured = QuietHours.from_config({"default": "08:00-21:00", "states": {"GA": "09:00-20:00"}})
    assert not allowed_at(evening, atlanta, configured, "GA")
    assert configured.window_for("GA") == Window(time(9), time(20))
    assert configured.window_for("FL") == Window(time(8), time(20))
    assert configured.window_for("TX") == DEFAULT_WINDOW


def test_an_empty_config_is_the_shipped_hours():
    shipped = QuietHours.from_config({})
    for state in (None, "FL", "OK", "MD", "TX"):
        assert shipped.window_for(state) == HOURS.window_for(state)
    assert HOURS.window_for("OK") == Window(time(8), time(20))


def test_an_unknown_state_gets_the_strictest_state_window():
    new_york_phone = zones_for(state=None, zip_code=None, phone_e164="+12125550100")
    evening = local("America/New_York", 2026, 1, 15, 20, 30)
    assert allowed_at(evening, new_york_phone, HOURS, "NY")
    assert not allowed_at(evening, new_york_phone, HOURS, None)


def test_the_property_address_wins_over_the_phone():
    zones = zones_for(state="CA", zip_code="94103", phone_e164="+12125550100")
    assert zones == Zones(("America/Los_Angeles",), "address")


@pytest.mark.parametrize(
    ("state", "zip_code", "names"),
    [
        ("TX", "79901", ("America/Denver",)),  # El Paso
        ("FL", "32501", ("America/Chicago",)),  # Pensacola
        ("FL", "32456", ("America/Chicago", "America/New_York")),  # 324 straddles the line
        ("FL", "33101-1234", ("America/New_York",)),
        ("AK", "99546", ("America/Adak",)),
        ("AK", "99501", ("America/Anchorage",)),
        ("NV", "89883", ("America/Denver",)),  # West Wendover
        ("PR", None, ("America/Puerto_Rico",)),
        ("DC", "20001", ("America/New_York",)),
        ("KY", "not-a-zip", ("America/Chicago", "America/New_York")),
    ],
)
def test_zip_prefixes_narrow_split_states(state, zip_code, names):
    assert zones_for(state=state, zip_code=zip_code, phone_e164=None).names == names


def test_every_zip_entry_narrows_its_state_to_zones_the_state_has():
    for state, table in ZIP_ZONES.items():
        for prefix, names in table.items():
            assert len(prefix) in (3, 5) and prefix.isdigit(), (state, prefix)
            assert set(names) < set(STATE_ZONES[state]), (state, prefix)
    for state, names in STATE_ZONES.items():
        assert Zones(names, "address").names == names, state  # every name loads


def test_unknown_everything_means_every_contiguous_zone():
    zones = zones_for(state=None, zip_code=None, phone_e164=None)
    assert zones.source == "default"
    assert set(zones.names) == set(CONTIGUOUS_US)
    # 08:30 in New York is 05:30 in Los Angeles: the common window opens at 08:00 Pacific.
    result = deferred(local("America/New_York", 2026, 6, 3, 8, 30), zones, None)
    assert result == local("America/Los_Angeles", 2026, 6, 3, 8, 0)


def test_a_phone_with_no_known_zone_falls_back_to_the_default():
    american_samoa_phone = zones_for(state=None, zip_code=None, phone_e164="+16845551234")
    assert american_samoa_phone.source == "default"
    assert zones_for(state="AE", zip_code=None, phone_e164=None).source == "default"


def test_bad_inputs_are_errors_that_name_the_field():
    with pytest.raises(ValueError, match="^phone_e164: "):
        zones_for(state=None, zip_code=None, phone_e164="5551234")
    with pytest.raises(ValueError, match="^end: "):
        Window(time(21), time(8))
    with pytest.raises(ValueError, match="^start: "):
        Window(time(8, tzinfo=UTC), time(21))
    with pytest.raises(ValueError, match="^names: "):
        Zones(("Mars/Olympus_Mons",), "phone")
    with pytest.raises(ValueError, match="^source: "):
        Zones(("America/Chicago",), "guess")
    naive = datetime(2026, 1, 15, 12, 0)
    for call in (
        lambda: allowed_at(naive, AUSTIN, HOURS, "TX"),
        lambda: next_allowed(naive, AUSTIN, HOURS, "TX"),
        lambda: local_day_bounds(naive, AUSTIN),
    ):
        with pytest.raises(ValueError, match="^now: "):
            call()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"states": {"FL": "8pm"}}, r"^quiet_hours\.states\.FL: expected 'HH:MM-HH:MM'"),
        ({"states": {"FL": "20:00-08:00"}}, r"^quiet_hours\.states\.FL: end: "),
        ({"states": {"FL": "25:00-26:00"}}, r"^quiet_hours\.states\.FL: "),
        ({"states": {"XX": "08:00-20:00"}}, r"^quiet_hours\.states\.XX: not a US state"),
        ({"states": {"GA": "21:30-22:00"}}, r"^quiet_hours\.states\.GA: .* does not overlap"),
        ({"default": "nine to five"}, r"^quiet_hours\.default: expected"),
        ({"weekends": "off"}, r"^quiet_hours\.weekends: unknown key"),
        ({"states": ["FL"]}, r"^quiet_hours\.states: expected a mapping"),
        (
            {"states": {"GA": "08:00-12:00", "NY": "13:00-20:00"}},
            r"^quiet_hours\.states: the state windows share no common hours",
        ),
    ],
)
def test_config_errors_name_the_key(config, message):
    with pytest.raises(ValueError, match=message):
        QuietHours.from_config(config)


def test_local_day_bounds_follow_the_recipients_calendar_day():
    noon = local("America/Chicago", 2026, 3, 8, 12, 0)
    start, end = local_day_bounds(noon, AUSTIN)
    assert (start, end) == (
        local("America/Chicago", 2026, 3, 8),
        local("America/Chicago", 2026, 3, 9),
    )
    assert end - start == timedelta(hours=23)
    start, end = local_day_bounds(local("America/Chicago", 2026, 11, 1, 23, 59), AUSTIN)
    assert end - start == timedelta(hours=25)
    late = local("America/Chicago", 2026, 1, 15, 23, 30)  # already the 16th in New York
    both = Zones(("America/New_York", "America/Chicago"), "phone")
    assert local_day_bounds(late, both)[0] == local("America/Chicago", 2026, 1, 15)


ZONE_NAMES = [
    *CONTIGUOUS_US,
    "America/Anchorage",
    "America/Adak",
    "Pacific/Honolulu",
    "Pacific/Guam",
    "America/Puerto_Rico",
    "America/St_Johns",  # half-hour offset
    "Australia/Lord_Howe",  # half-hour daylight saving
    "Asia/Kathmandu",
    "Europe/London",
    "America/Santiago",  # clocks change at midnight
]
whole_minutes = st.builds(time, st.integers(0, 23), st.integers(0, 59))
windows = st.tuples(whole_minutes, whole_minutes).filter(lambda pair: pair[0] < pair[1])


@settings(max_examples=60, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2040, 1, 1),
        timezones=st.sampled_from([UTC, ZoneInfo("America/Chicago"), ZoneInfo("Asia/Kathmandu")]),
    ),
    names=st.lists(st.sampled_from(ZONE_NAMES), min_size=1, max_size=3, unique=True),
    window=st.one_of(st.just((DEFAULT_WINDOW.start, DEFAULT_WINDOW.end)), windows),
)
def test_next_allowed_is_the_first_allowed_minute(now, names, window):
    hours = QuietHours(default=Window(*window), by_state={})
    zones = Zones(tuple(names), "phone")
    result = next_allowed(now, zones, hours, None)
    minute = now.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    if result is None:
        assert not allowed_at(now, zones, hours, None)
        last = now + SEARCH_HORIZON
    else:
        assert result >= now
        assert allowed_at(result, zones, hours, None)
        if result == now:
            return
        assert result.second == result.microsecond == 0
        last = result - timedelta(minutes=1)
    while minute <= last:
        assert not allowed_at(minute, zones, hours, None), minute
        minute += timedelta(minutes=1)
