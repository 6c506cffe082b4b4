"""The synthetic book: deterministic, in the contract's shapes, messy, with a real signal."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from hk_core import synthetic
from hk_core.contract import (
    CONDITIONS,
    LEAD_COLUMNS,
    MOTIVATIONS,
    OCCUPANCIES,
    PROPERTY_RECORD_COLUMNS,
    PROPERTY_TYPES,
    STAGE_ALIASES,
    TIMELINES,
    LeadIn,
    PropertyRecordIn,
    StageEventIn,
)
from hk_core.parsing import choice, slug
from hk_core.pii import PiiHasher
from hk_core.synthetic import BookSummary, generate_book

AS_OF = date(2025, 6, 30)
HORIZON = datetime(2025, 6, 30, tzinfo=UTC)
FILES = ("leads.csv", "stage_events.csv", "properties.csv")
EVENT_VALIDATION_DEFECTS = {"unknown_stage", "no_lead_ref", "bad_occurred_at"}
STRONG_MOTIVATIONS = {"foreclosure", "divorce", "inherited", "tax_problems"}


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


def parse(model, row: dict):
    try:
        return model.model_validate(row)
    except ValidationError:
        return None


class Book:
    def __init__(self, out: Path, summary: BookSummary, calls: list[int]):
        self.out = out
        self.summary = summary
        self.progress_calls = calls
        self.leads = read(out / "leads.csv")
        self.events = read(out / "stage_events.csv")
        self.properties = read(out / "properties.csv")
        self.truth_leads = read(out / "truth" / "leads.csv")
        self.truth_events = read(out / "truth" / "stage_events.csv")
        self.truth_properties = read(out / "truth" / "properties.csv")
        self.parsed_leads = [parse(LeadIn, r) for r in self.leads]
        self.parsed_events = [parse(StageEventIn, r) for r in self.events]

    def good_leads(self):
        """(row dict, parsed lead, truth) of the leads meant to be good."""
        return [
            (r, p, t)
            for r, p, t in zip(self.leads, self.parsed_leads, self.truth_leads, strict=True)
            if not t["defect"]
        ]

    def events_by_lead(self) -> dict[tuple[str, str], list]:
        by_lead: dict[tuple[str, str], list] = defaultdict(list)
        for event, t in zip(self.parsed_events, self.truth_events, strict=True):
            if not t["defect"]:
                by_lead[(event.source, event.external_id)].append(event)
        return by_lead


def make_book(tmp_path_factory, n: int, seed: int) -> Book:
    out = tmp_path_factory.mktemp(f"book{n}")
    calls: list[int] = []
    summary = generate_book(n, seed, out, as_of=AS_OF, progress=calls.append, truth=True)
    return Book(out, summary, calls)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Book:
    return make_book(tmp_path_factory, 2_000, 7)


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> Book:
    return make_book(tmp_path_factory, 20_000, 11)


def test_same_seed_same_bytes_and_other_seed_differs(small: Book, tmp_path: Path):
    again = generate_book(2_000, 7, tmp_path / "again", as_of=AS_OF)  # and without truth files
    other = generate_book(2_000, 8, tmp_path / "other", as_of=AS_OF)
    for name in FILES:
        assert (tmp_path / "again" / name).read_bytes() == (small.out / name).read_bytes()
        assert (tmp_path / "other" / name).read_bytes() != (small.out / name).read_bytes()
    assert set(again.paths) == {"leads", "stage_events", "properties"}
    assert not (tmp_path / "again" / "truth").exists()
    assert other.leads == 2_000


def test_headers_are_the_contract_columns(small: Book):
    assert header(small.out / "leads.csv") == list(LEAD_COLUMNS)
    assert header(small.out / "properties.csv") == list(PROPERTY_RECORD_COLUMNS)
    assert header(small.out / "stage_events.csv") == [
        "source", "external_id", "stage", "occurred_at"
    ]  # fmt: skip
    assert set(synthetic.STAGE_EVENT_FILE_COLUMNS) <= set(StageEventIn.model_fields)


def test_files_are_plain_csv(small: Book):
    """Every row has the header's width, and csv.writer writes the very same bytes."""
    for name in FILES:
        with open(small.out / name, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert {len(r) for r in rows} == {len(rows[0])}
        buffer = io.StringIO(newline="")
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        assert buffer.getvalue().encode() == (small.out / name).read_bytes()
    notes = [r["notes"] for r in small.leads]
    assert any("\n" in n for n in notes) and any('"' in n for n in notes)


def test_summary_counts_and_progress(small: Book):
    s = small.summary
    assert (s.leads, len(small.leads)) == (2_000, 2_000)
    assert s.stage_events == len(small.events)
    assert s.properties == len(small.properties)
    assert s.bad_leads == sum(1 for t in small.truth_leads if t["defect"])
    assert s.converted == sum(int(t["converted"]) for t in small.truth_leads)
    assert all(p.exists() for p in s.paths.values())
    calls = small.progress_calls
    assert calls == sorted(calls) and calls[-1] == s.leads + s.stage_events + s.properties
    assert max(b - a for a, b in zip([0, *calls], calls, strict=False)) <= 15_000


def test_empty_book_has_headers_only(tmp_path: Path):
    summary = generate_book(0, 1, tmp_path, as_of=AS_OF)
    assert (summary.leads, summary.stage_events, summary.properties) == (0, 0, 0)
    assert read(tmp_path / "leads.csv") == []


def test_as_of_defaults_to_today_and_no_event_is_later(tmp_path: Path):
    generate_book(300, 3, tmp_path)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    times = [parse(StageEventIn, r) for r in read(tmp_path / "stage_events.csv")]
    assert times and max(e.occurred_at for e in times if e) < today
    received = [p.received_at for r in read(tmp_path / "leads.csv") if (p := parse(LeadIn, r))]
    assert max(received) < today <= max(received) + timedelta(days=30)


def test_exactly_the_bad_lead_rows_fail_validation(small: Book):
    failing = {i for i, p in enumerate(small.parsed_leads) if p is None}
    intended = {i for i, t in enumerate(small.truth_leads) if t["defect"]}
    assert failing == intended
    assert 0.015 <= len(intended) / len(small.leads) <= 0.025
    kinds = Counter(t["defect"] for t in small.truth_leads if t["defect"])
    assert set(kinds) <= set(synthetic.LEAD_DEFECTS) and len(kinds) >= 6


def test_good_leads_have_contacts_and_unique_ids(small: Book):
    seen: set[tuple[str, str]] = set()
    no_id = Counter()
    for _, lead, _ in small.good_leads():
        assert lead.email or lead.phone
        assert lead.received_at < HORIZON
        assert lead.received_at >= HORIZON - timedelta(days=synthetic.HISTORY_DAYS + 1)
        if lead.external_id is None:
            no_id[lead.source] += 1
            continue
        key = (lead.source, lead.external_id)
        assert key not in seen
        seen.add(key)
    assert set(no_id) == {"list_import"}
    sources = Counter(lead.source for _, lead, _ in small.good_leads())
    assert set(sources) == set(synthetic.SOURCES)
    raw_sources = {r["source"] for r, _, _ in small.good_leads()}
    assert raw_sources - set(synthetic.SOURCES)  # some written messily


def test_typed_values_map_back_through_the_alias_tables():
    tables = (
        (synthetic._TYPED_PROPERTY_TYPE, synthetic.PROPERTY_TYPES, synthetic._ODD_PROPERTY_TYPE,
         PROPERTY_TYPES, "other"),
        (synthetic._TYPED_CONDITION, synthetic.CONDITIONS, synthetic._ODD_CONDITION,
         CONDITIONS, "unknown"),
        (synthetic._TYPED_OCCUPANCY, synthetic.OCCUPANCIES, synthetic._ODD_OCCUPANCY,
         OCCUPANCIES, "unknown"),
        (synthetic._TYPED_MOTIVATION, synthetic.MOTIVATIONS, synthetic._ODD_MOTIVATION,
         MOTIVATIONS, "other"),
        (synthetic._TYPED_TIMELINE, synthetic.TIMELINES, synthetic._ODD_TIMELINE,
         TIMELINES, "unknown"),
        (synthetic._STAGE_SPELLINGS, synthetic.STAGES, (), STAGE_ALIASES, None),
    )  # fmt: skip
    for typed, names, odd, aliases, fallback in tables:
        parse_choice = choice(aliases, field_name="x", unknown=fallback)
        for spellings, name in zip(typed, names, strict=True):
            assert {parse_choice(s) for s in spellings} == {name}
        assert {parse_choice(s) for s in odd} <= {fallback}
    for spellings, name in zip(synthetic._SOURCE_SPELLINGS, synthetic.SOURCES, strict=True):
        assert {slug(s) for s in spellings} == {name}


def test_contact_validity_matches_the_truth(small: Book):
    hasher = PiiHasher("test-key")
    invalid_email = invalid_phone = 0
    for row, _, truth in small.good_leads():
        email_ok = hasher.normalize_email(row["email"]) is not None
        phone_ok = hasher.normalize_phone(row["phone"]) is not None
        assert email_ok == (truth["email_usable"] == "1")
        assert phone_ok == (truth["phone_usable"] == "1")
        invalid_email += bool(row["email"]) and not email_ok
        invalid_phone += bool(row["phone"]) and not phone_ok
    assert invalid_email > 30 and invalid_phone > 30
    phones = [
        hasher.normalize_phone(r["phone"]) for r, _, t in small.good_leads() if t["phone_usable"]
    ]
    phones = [p for p in phones if p]
    assert len(set(phones)) == len(phones)  # no two leads share a number by accident


def test_properties_validate_except_the_bad_rows(small: Book):
    failing = {i for i, r in enumerate(small.properties) if parse(PropertyRecordIn, r) is None}
    intended = {i for i, t in enumerate(small.truth_properties) if t["defect"]}
    assert failing == intended and len(intended) >= 4
    assert {small.truth_properties[i]["defect"] for i in intended} == {
        "missing_apn",
        "missing_street",
    }
    apns = [r["apn"] for r in small.properties if r["apn"]]
    assert len(set(apns)) == len(apns)
    linked = sum(1 for t in small.truth_properties if t["lead_row"])
    assert 0.8 < linked / len(small.leads) < 0.9
    assert 0.8 < (len(small.properties) - linked) / linked < 1.2  # extra parcels, about as many
    assert linked == sum(int(t["in_county_roll"]) for t in small.truth_leads)
    owners = " ".join(r["owner_name"] for r in small.properties)
    assert " LLC" in owners and "TRUST" in owners
    absentee = [r for r in small.properties if r["owner_mailing_street"] != r["street"]]
    assert 0.1 < len(absentee) / len(small.properties) < 0.6


def test_events_refer_to_good_leads_and_bad_events_are_the_intended_ones(small: Book):
    good_keys = {
        (lead.source, lead.external_id) for _, lead, _ in small.good_leads() if lead.external_id
    }
    bad_lead_keys = {
        (slug(r["source"]), r["external_id"])
        for r, t in zip(small.leads, small.truth_leads, strict=True)
        if t["defect"]
    }
    defects = Counter()
    for event, truth in zip(small.parsed_events, small.truth_events, strict=True):
        defect = truth["defect"]
        defects[defect] += 1
        if defect in EVENT_VALIDATION_DEFECTS:
            assert event is None
            continue
        assert event is not None
        key = (event.source, event.external_id)
        assert key not in bad_lead_keys
        assert (key in good_keys) == (defect != "unknown_lead")
        assert event.occurred_at < HORIZON
    assert set(defects) == {"", *synthetic.EVENT_DEFECTS}
    assert sum(n for d, n in defects.items() if d) < 0.01 * len(small.events)
    assert {r["stage"] for r in small.events} - set(synthetic.STAGES)  # messy spellings


def test_funnel_order_timing_and_the_90_day_label(small: Book):
    by_lead = small.events_by_lead()
    received = {(lead.source, lead.external_id): lead for _, lead, _ in small.good_leads()}
    truth = {
        (lead.source, lead.external_id): t for _, lead, t in small.good_leads() if lead.external_id
    }
    assert set(by_lead) == set(truth)  # every good lead with an id has events
    order = {s: i for i, s in enumerate(synthetic.STAGES)}
    reached_contract = 0
    for key, events in by_lead.items():
        events.sort(key=lambda e: (e.occurred_at, order[e.stage]))
        stages = [e.stage for e in events]
        assert stages[0] == "new" and stages.count("new") == 1
        assert events[0].occurred_at == received[key].received_at
        assert [order[s] for s in stages] == sorted(order[s] for s in stages)
        assert len(set(stages)) == len(stages)
        assert not ({"closed_won", "closed_lost"} <= set(stages))
        if "under_contract" in stages:
            reached_contract += 1
            at = events[stages.index("under_contract")].occurred_at
            assert at - received[key].received_at <= timedelta(days=90)
            assert truth[key]["will_convert"] == "1" and truth[key]["converted"] == "1"
        else:
            assert truth[key]["converted"] == "0"
            assert "closed_won" not in stages
    assert reached_contract == small.summary.converted
    # Recent leads are still mid-funnel; old ones have mostly finished.
    recent = [k for k in by_lead if received[k].received_at > HORIZON - timedelta(days=10)]
    assert recent and sum(len(by_lead[k]) for k in recent) / len(recent) < 3


def test_addresses_are_typed_messily_against_the_county_record(small: Book):
    county = {r["apn"]: r for r in small.properties if r["apn"]}
    matched = differ = zip_agree = 0
    for row, lead, truth in small.good_leads():
        record = county.get(truth["apn"])
        if record is None:
            continue
        matched += 1
        differ += row["property_street"] != record["street"]
        zip_agree += lead.property_zip is not None and lead.property_zip[:5] == record["zip"][:5]
    assert matched > 1_500
    assert differ / matched > 0.6
    assert zip_agree / matched > 0.8
    assert {r["property_state"] for r in small.leads} >= {"TX", "tx", "Texas"}
    assert any(len(r["property_zip"]) == 4 for r in small.leads)  # a leading zero lost
    assert any("-" in r["property_zip"] for r in small.leads)  # ZIP+4


def test_conversion_follows_what_investors_know(large: Book):
    """The label (under_contract within 90 days) among leads old enough to have one."""
    county = {r["apn"]: r for r in large.properties if r["apn"]}
    hasher = PiiHasher("test-key")
    converted = {k for k, events in large.events_by_lead().items() for e in events
                 if e.stage == "under_contract"}  # fmt: skip
    groups: dict[str, list[int]] = defaultdict(list)
    cutoff = HORIZON - timedelta(days=90)
    for _, lead, truth in large.good_leads():
        if lead.external_id is None or lead.received_at > cutoff:
            continue
        label = int((lead.source, lead.external_id) in converted)
        groups["all"].append(label)
        record = county.get(truth["apn"])
        if record and record["estimated_value"] and record["mortgage_balance_estimate"]:
            value = float(record["estimated_value"])
            equity = (value - float(record["mortgage_balance_estimate"])) / value
            urgent = lead.timeline in ("asap", "30_days")
            if equity >= 0.5 and urgent and lead.motivation in STRONG_MOTIVATIONS:
                groups["high_equity_urgent_motivated"].append(label)
            if equity < 0.2 and lead.motivation == "curious":
                groups["low_equity_curious"].append(label)
        usable = hasher.normalize_phone(lead.phone) or hasher.normalize_email(lead.email)
        groups["contact_ok" if usable else "contact_unusable"].append(label)
        groups[f"source:{lead.source}"].append(label)

    def rate(name: str) -> float:
        assert len(groups[name]) >= 20, name
        return sum(groups[name]) / len(groups[name])

    assert 0.05 <= rate("all") <= 0.12
    assert rate("high_equity_urgent_motivated") > max(0.2, 3 * rate("all"))
    assert rate("low_equity_curious") < min(0.03, rate("all") / 3)
    assert rate("contact_unusable") < 0.5 * rate("contact_ok")
    assert rate("source:referral") > rate("source:ppc")
    assert rate("source:direct_mail") > rate("source:list_import")


def test_no_single_feature_determines_conversion(large: Book):
    """The random effect keeps even the best and worst segments uncertain."""
    p = sorted(float(t["p_convert"]) for t in large.truth_leads if not t["defect"])
    assert 0.05 <= sum(p) / len(p) <= 0.12
    assert p[len(p) // 2] < 0.1 and p[int(len(p) * 0.99)] > 0.5
    assert synthetic.CONVERSION_MODEL["random_effect_sd"] > 0


def test_the_interactions_book_converts_on_pairs_not_on_one_attribute(tmp_path: Path):
    """``behaviour="interactions"``: about as many conversions as the default book, and a
    vacant house converts far more often when its owner is also absentee (the pair)."""
    generate_book(12_000, 5, tmp_path, as_of=AS_OF, truth=True, behaviour="interactions")
    truth = read(tmp_path / "truth" / "leads.csv")
    good = [t for t in truth if not t["defect"]]
    p = [float(t["p_convert"]) for t in good]
    assert 0.05 <= sum(p) / len(p) <= 0.14

    def mean_p(rows) -> float:
        assert len(rows) >= 50
        return sum(float(t["p_convert"]) for t in rows) / len(rows)

    vacant = [t for t in good if t["occupancy"] == "vacant"]
    pair = [t for t in vacant if t["absentee_owner"] in ("1", "True", "true")]
    alone = [t for t in vacant if t["absentee_owner"] not in ("1", "True", "true")]
    assert mean_p(pair) > 2 * mean_p(alone)
    with pytest.raises(ValueError, match="behaviour must be one of investor, interactions"):
        generate_book(10, 1, tmp_path / "nope", as_of=AS_OF, behaviour="linear")
