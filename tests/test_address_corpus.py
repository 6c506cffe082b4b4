"""Address standardisation and the contract on public third-party data: usaddress's labelled
training addresses (tests/fixtures/usaddress/training) and the Big List of Naughty Strings.

usaddress's measure_performance/test_data is not used here: it is kept for the independent
figure in docs/enrichment.md (benchmarks/bench_address.py)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from hk_core.address import address_key
from hk_core.address.evaluation import (
    PLACE_PARTS,
    LabelledAddress,
    differences,
    measure,
    read_labelled,
)
from hk_core.contract import LEAD_COLUMNS, LeadIn
from hk_core.enrichment import standardize
from hk_core.geo import STATES
from hk_core.parsing import CSV_CELLS
from hk_core.records import field_errors

FIXTURES = Path(__file__).parent / "fixtures"
TRAINING = [a for f in sorted((FIXTURES / "usaddress" / "training").glob("*.xml"))
            for a in read_labelled(f)]  # fmt: skip
NAUGHTY = orjson.loads((FIXTURES / "blns" / "blns.json").read_bytes())


def test_the_corpus_is_there():
    assert len(TRAINING) > 1300 and len(NAUGHTY) > 500


def test_accuracy_on_usaddress_training_files():
    accuracy = measure(TRAINING)
    assert accuracy.street_line_rate >= 0.97, accuracy
    assert accuracy.one_line_rate >= 0.95, accuracy
    assert accuracy.same_key_rate >= 0.99, accuracy


@pytest.mark.parametrize("labelled", TRAINING, ids=lambda a: a.source)
def test_labelled_address_reads_consistently(labelled: LabelledAddress):
    """Every form of every labelled address (as typed, lower case, abbreviated, spelled out)
    is read without raising, and what comes back is one coherent address: the key is built
    from its parts, the ZIP is five ASCII digits, the state a USPS code, the unit one token."""
    forms = (labelled.street_line, labelled.one_line, labelled.abbreviated, labelled.spelled_out)
    for text in (*forms, labelled.one_line.lower()):
        address = standardize(text)
        if address is None:
            continue
        assert address.key == address_key(address.area, address.street_line, address.unit)
        assert address.line1.startswith(address.street_line)
        assert address.number and address.street_name
        assert address.zip5 is None or (len(address.zip5) == 5 and address.zip5.isascii())
        assert address.state is None or address.state in STATES
        assert address.unit is None or " " not in address.unit
    # Given apart, the labelled city, state and ZIP are the address's, whatever the street says.
    expected = labelled.expected
    apart = standardize(labelled.street_line, expected["city"], expected["state"], expected["zip5"])
    if apart is not None:
        assert not differences(apart, expected, PLACE_PARTS)


@pytest.mark.parametrize("text", NAUGHTY, ids=range(len(NAUGHTY)))
def test_naughty_strings_never_break_standardize(text: str):
    for args in ((text,), (f"123 {text} St", text, text, text), (f"12 Main St {text}",)):
        address = standardize(*args)
        assert address is None or address.number


@pytest.mark.parametrize("text", NAUGHTY, ids=range(len(NAUGHTY)))
def test_naughty_strings_in_every_field_are_stored_as_sent_or_refused_by_name(text: str):
    base = {"external_id": "N-1", "email": "n@example.com", "property_street": "1 Oak St",
            "property_zip": "78701"}  # fmt: skip
    free_text = ("first_name", "last_name", "property_street", "property_city", "notes")
    for field in LEAD_COLUMNS:
        for context in (None, CSV_CELLS):
            try:
                lead = LeadIn.model_validate({**base, field: text}, context=context)
            except ValidationError as exc:
                assert {name.split(".")[0] for name, _ in field_errors(exc)} <= {
                    field,
                    "email",
                    "property_street",
                    "property_zip",
                }, (field, text)
                continue
            stored = getattr(lead, field)
            if field in free_text and stored is not None:
                assert stored == text  # byte for byte, never "cleaned"
