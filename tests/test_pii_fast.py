"""The contact fast path gives the libraries' answers: on its shapes, on near misses, on a book."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import email_validator
import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import hk_core.pii
from hk_core.contacts_fast import email_fast, nanp_fast_path
from hk_core.pii import PiiHasher
from hk_core.synthetic import generate_book

FAST = PiiHasher("test-key")
LIBRARY = PiiHasher("test-key", fast=False)
US = nanp_fast_path("US")
BOOK_LEADS = 20_000
PROPERTY_SETTINGS = settings(derandomize=True, max_examples=400, deadline=None)

# The shapes' own characters, then characters a sender gets wrong or phonenumbers reads.
BLANKS = ["", " ", "  ", "\t", " " * 16, " " * 17, "\u00a0", "\n", "\u3000"]
PHONE_PREFIXES = ["", "1", "+1", "+", "11", "+11", "0", "01", "011", "+44", "\uff0b1", "tel:+1"]
SEPARATORS = ["", " ", "-", ".", "  ", "--", "/", "\u2010", "\u00a0", "_", "x"]
PHONE_SUFFIXES = ["", "", "", " x12", " ext. 5", "#", " 12#", ",,3", ";ext=4", " abc", "/x2", "."]
IN_SHAPE_BLANKS = ["", " ", "\t", " " * 16]
IN_SHAPE_SEPARATORS = ["", " ", "-", "."]
DIGITS = "0123456789"
ODD_CHARS = "\u0660\uff15a1+()x#;,.-@ \u200b\u00e9Z"


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=DIGITS, min_size=n, max_size=n)


@st.composite
def phones(draw: st.DrawFn) -> str:
    """Half NANP_SHAPE values, half bent one way or another."""
    bent = draw(st.booleans())

    def pick(in_shape: list[str], near_misses: list[str]) -> str:
        return draw(st.sampled_from(in_shape + near_misses if bent else in_shape))

    area = draw(
        st.one_of(st.sampled_from(["512", "212", "613", "876", "800", "900", "555"]), digits(3))
    )
    if draw(st.booleans()):
        area = f"({area})" + pick(["", " "], ["-", "  "])
    else:
        area += pick(IN_SHAPE_SEPARATORS, SEPARATORS)
    number = (
        pick(IN_SHAPE_BLANKS, BLANKS)
        + pick(["", "1", "+1"], PHONE_PREFIXES)
        + pick(IN_SHAPE_SEPARATORS, SEPARATORS)
        + area
        + (draw(st.one_of(digits(3), digits(2), digits(4))) if bent else draw(digits(3)))
        + pick(IN_SHAPE_SEPARATORS, SEPARATORS)
        + (draw(st.one_of(digits(4), digits(3), digits(5))) if bent else draw(digits(4)))
        + pick([""], PHONE_SUFFIXES)
        + pick(IN_SHAPE_BLANKS, BLANKS)
    )
    if bent and draw(st.booleans()):
        at = draw(st.integers(0, len(number)))
        number = number[:at] + draw(st.sampled_from(ODD_CHARS)) + number[at:]
    return number


@PROPERTY_SETTINGS
@given(phones())
@example("(512) 555-0199")
@example("+1 613 555 0123")  # Canada: the US rule fails, the library's is_valid_number decides
@example("1-800-FLOWERS")
@example("+1 512 555 0199 ext 7")
@example("+512 555 0199")  # a plus without the 1 is Peru's 51
@example(" " * 245 + "5125550199")  # phonenumbers refuses over 250 characters
def test_phone_fast_path_equals_the_library(raw: str):
    assert FAST.normalize_phone(raw) == LIBRARY.normalize_phone(raw)
    assert FAST.contact_keys(None, raw) == LIBRARY.contact_keys(None, raw)


def test_every_area_code_and_exchange_digit_agrees():
    """The validity rule against the library's over every area code and every leading exchange
    digit, in the shapes' forms: the fast path takes exactly the numbers valid for US."""
    assert US is not None
    forms = ["{a}{e}0199", "({a}) {e}-0199", "+1 {a} {e} 0199", "1-{a}-{e}-0199"]
    fast_valid = 0
    for area in range(200, 1000):
        for lead in DIGITS:
            for form in forms[area % len(forms) :: 2]:
                raw = form.format(a=area, e=f"{lead}55")
                library = LIBRARY.normalize_phone(raw)
                assert FAST.normalize_phone(raw) == library, raw
                for_us = phonenumbers.is_valid_number_for_region(
                    phonenumbers.parse(raw, "US"), "US"
                )
                assert (US.e164(raw) is not None) == for_us, raw
                fast_valid += for_us
    assert fast_valid > 1000


ATEXT = "abcXYZ0189_!#$%&'*+-/=?^`{|}~"
LABEL_CHARS = "abzAQZ09-"


@st.composite
def local_parts(draw: st.DrawFn, bent: bool) -> str:
    kind = draw(st.integers(0, 5)) if bent else draw(st.sampled_from([0, 5, 5]))
    if kind == 0:  # RFC 2142 names in any case
        name = draw(st.sampled_from(["info", "Sales", "SUPPORT", "postMaster", "www", "infos"]))
        return name
    if kind == 1:  # anything near atext, dots in any place, quotes, unicode
        return draw(st.text(alphabet=ATEXT + '."\\ @<>é\u0301\u200b', max_size=70))
    atoms = draw(st.lists(st.text(alphabet=ATEXT, min_size=1, max_size=22), min_size=1, max_size=4))
    return ".".join(atoms)


@st.composite
def domains(draw: st.DrawFn, bent: bool) -> str:
    if not bent:
        plain = st.from_regex(r"[a-zA-Z0-9]{1,8}(-[a-zA-Z0-9]{1,4})?", fullmatch=True)
        labels = draw(st.lists(plain, min_size=1, max_size=3))
        return ".".join([*labels, draw(st.sampled_from(["com", "ORG", "io", "co", "Net"]))])
    label = st.one_of(
        st.text(alphabet=LABEL_CHARS, min_size=1, max_size=12),
        st.text(alphabet="a", min_size=60, max_size=66),
        st.sampled_from(["xn--bcher-kva", "ab--cd", "bücher", "EXAMPLE", "mail", "-a", "a-"]),
    )
    labels = draw(st.lists(label, min_size=0, max_size=4))
    tld = draw(
        st.one_of(
            st.sampled_from(["com", "ORG", "io", "c0m", "123", "test", "local", "localhost"]),
            st.sampled_from(["invalid", "onion", "arpa", "example", "co", "x", "xn--p1ai", ""]),
            st.text(alphabet=LABEL_CHARS, min_size=1, max_size=5),
        )
    )
    return ".".join([*labels, tld]) + draw(st.sampled_from(["", "", "", ".", "..", " "]))


@st.composite
def emails(draw: st.DrawFn) -> str:
    """Half in the fast shape (surrounding blanks aside), half bent."""
    bent = draw(st.booleans())
    at = draw(st.sampled_from(["@", "@", "", "@@", "\uff20", " @"])) if bent else "@"
    blanks = BLANKS if bent else IN_SHAPE_BLANKS
    return (
        draw(st.sampled_from(blanks))
        + draw(local_parts(bent))
        + at
        + draw(domains(bent))
        + draw(st.sampled_from(blanks))
    )


@PROPERTY_SETTINGS
@given(emails())
@example("John.Smith@Example.COM")
@example(" Info@Mail.Example.org\n")
@example("a@b.test")
@example("a@sub.localhost")
@example("a@123.com")
@example("ann@example.123")
@example("ann@example.c0m")
@example("a@" + "b" * 64 + ".com")
@example("a" * 64 + "@example.com")
@example("a" * 65 + "@example.com")
@example("a@" + ".".join(["b" * 63] * 3) + ".com")  # 4 + 3 * 64 + 3 = 199 characters
@example("a" * 64 + "@" + ".".join(["b" * 62] * 3) + ".co")  # 64 + 1 + 189 + 3 = 257
def test_email_fast_path_equals_the_library(raw: str):
    assert FAST.normalize_email(raw) == LIBRARY.normalize_email(raw)
    assert FAST.contact_keys(raw, None) == LIBRARY.contact_keys(raw, None)


def test_special_use_names_are_read_when_called(monkeypatch: pytest.MonkeyPatch):
    # email-validator documents the list as settable; a name added to it must be refused too.
    assert FAST.normalize_email("ann@corp.example.com") == "ann@corp.example.com"
    monkeypatch.setattr(email_validator, "SPECIAL_USE_DOMAIN_NAMES", ["example.com"])
    hasher = PiiHasher("test-key")
    assert email_fast("ann@corp.example.com") is None
    assert hasher.normalize_email("ann@corp.example.com") is None


def test_deliverability_always_asks_the_library(monkeypatch: pytest.MonkeyPatch):
    calls: list[tuple[str, bool]] = []

    def fake(raw: str, *, check_deliverability: bool = False) -> None:
        calls.append((raw, check_deliverability))

    monkeypatch.setattr(hk_core.pii, "validated_email", fake)
    assert PiiHasher("k", check_deliverability=True).normalize_email("ann@example.com") is None
    assert calls == [("ann@example.com", True)]


def test_other_regions_take_the_library_path():
    assert nanp_fast_path("CA") is None and nanp_fast_path("GB") is None
    assert PiiHasher("k", default_region="GB").normalize_phone("020 7946 0018") == "+442079460018"


def test_pickling_keeps_the_choice_of_path():
    for hasher in (FAST, LIBRARY):
        copy = pickle.loads(pickle.dumps(hasher))
        assert copy.fast == hasher.fast
        assert copy.contact_keys("Ann@Example.com", "(512) 555-0199") == hasher.contact_keys(
            "Ann@Example.com", "(512) 555-0199"
        )


@pytest.fixture(scope="module")
def book_contacts(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    out = tmp_path_factory.mktemp("book")
    generate_book(BOOK_LEADS, 7, out)
    with open(Path(out) / "leads.csv", newline="", encoding="utf-8") as f:
        return [(row["email"], row["phone"]) for row in csv.DictReader(f)]


def test_a_whole_book_gets_the_same_keys(book_contacts: list[tuple[str, str]]):
    fast, library = PiiHasher("test-key"), PiiHasher("test-key", fast=False)
    for email, phone in book_contacts:
        assert fast.contact_keys(email, phone) == library.contact_keys(email, phone), (email, phone)


def test_most_of_a_book_takes_the_fast_path(book_contacts: list[tuple[str, str]]):
    """Fails if the fast path silently stops applying (a shape or metadata premise changed)."""
    assert US is not None
    emails = [email for email, _ in book_contacts if email]
    phones = [phone for _, phone in book_contacts if phone]
    fast_emails = sum(email_fast(email) is not None for email in emails)
    fast_phones = sum(US.e164(phone) is not None for phone in phones)
    assert fast_emails > 0.85 * len(emails) and fast_phones > 0.85 * len(phones)
    # What is left is nearly all what the library refuses: the book's broken-on-purpose contacts.
    valid_emails = [email for email in emails if LIBRARY.normalize_email(email) is not None]
    valid_phones = [phone for phone in phones if LIBRARY.normalize_phone(phone) is not None]
    assert sum(email_fast(email) is not None for email in valid_emails) > 0.99 * len(valid_emails)
    assert sum(US.e164(phone) is not None for phone in valid_phones) > 0.99 * len(valid_phones)
