"""Inbound SMS: Twilio's webhook signature and the keywords that opt a seller out or back in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.channels import (
    opt_in_keyword,
    opt_out_keyword,
    twilio_signature,
    verify_twilio_signature,
)
from orchestrator.channels.inbound import OBJECTS, OPT_OUT_KEYWORDS, POLITE_LEADING, POLITE_TRAILING

# Twilio's documented example (docs/usage/validation in its helper libraries).
DOCS_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOCS_TOKEN = "12345"
DOCS_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
DOCS_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_signature_matches_twilios_documented_example():
    assert twilio_signature(DOCS_URL, DOCS_PARAMS, DOCS_TOKEN) == DOCS_SIGNATURE
    assert verify_twilio_signature(DOCS_URL, DOCS_PARAMS, DOCS_TOKEN, DOCS_SIGNATURE)


@pytest.mark.parametrize(
    ("url", "params", "token", "signature"),
    [
        (DOCS_URL, {**DOCS_PARAMS, "Digits": "1235"}, DOCS_TOKEN, DOCS_SIGNATURE),
        (DOCS_URL, {**DOCS_PARAMS, "Body": "STOP"}, DOCS_TOKEN, DOCS_SIGNATURE),
        (DOCS_URL.replace("foo=1", "foo=2"), DOCS_PARAMS, DOCS_TOKEN, DOCS_SIGNATURE),
        (DOCS_URL, DOCS_PARAMS, "54321", DOCS_SIGNATURE),
        (DOCS_URL, DOCS_PARAMS, DOCS_TOKEN, None),
        (DOCS_URL, DOCS_PARAMS, DOCS_TOKEN, ""),
        (DOCS_URL, DOCS_PARAMS, DOCS_TOKEN, DOCS_SIGNATURE.lower()),
    ],
    ids=["param-changed", "param-added", "url-changed", "other-token", "none", "empty", "case"],
)
def test_tampered_requests_fail(url, params, token, signature):
    assert not verify_twilio_signature(url, params, token, signature)


def test_url_with_or_without_the_default_port_verifies():
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    signed_with_port = twilio_signature(with_port, DOCS_PARAMS, DOCS_TOKEN)

    assert verify_twilio_signature(DOCS_URL, DOCS_PARAMS, DOCS_TOKEN, signed_with_port)
    assert verify_twilio_signature(with_port, DOCS_PARAMS, DOCS_TOKEN, DOCS_SIGNATURE)
    other_port = "https://mycompany.com:8443/myapp.php?foo=1&bar=2"
    assert not verify_twilio_signature(other_port, DOCS_PARAMS, DOCS_TOKEN, DOCS_SIGNATURE)
    http_url = "http://127.0.0.1/v1/webhooks/sms/inbound"
    signed = twilio_signature("http://127.0.0.1:80/v1/webhooks/sms/inbound", {}, DOCS_TOKEN)
    assert verify_twilio_signature(http_url, {}, DOCS_TOKEN, signed)


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", "STOP"),
        ("stop", "STOP"),
        ("Stop.", "STOP"),
        ("  STOP!! ", "STOP"),
        ("Stop?", "STOP"),
        ("stop please", "STOP"),
        ("Please stop texting me", "STOP"),
        ("STOP texting me, thanks", "STOP"),
        ("stop it now", "STOP"),
        ("STOP!!! STOP", "STOP"),
        ("Stop 🛑", "STOP"),
        ("ＳＴＯＰ", "STOP"),  # full-width, as some keyboards send it
        ("STOPALL", "STOPALL"),
        ("stop all", "STOPALL"),
        ("Unsubscribe", "UNSUBSCRIBE"),
        ("unsubscribe me from your list", "UNSUBSCRIBE"),
        ("CANCEL", "CANCEL"),
        ("end", "END"),
        ("Quit.", "QUIT"),
        ("quit texting me", "QUIT"),
        ("REVOKE", "REVOKE"),
        ("opt out", "OPTOUT"),
        ("Opt-Out", "OPTOUT"),
        ("OPTOUT", "OPTOUT"),
        ("ALTO", "ALTO"),
        ("parar", "PARAR"),
        ("Baja", "BAJA"),
        ("por favor baja ya", "BAJA"),
        ("Cancelar.", "CANCELAR"),
    ],
)
def test_opt_out_keywords_and_their_plain_variants(body, keyword):
    assert opt_out_keyword(body) == keyword


@pytest.mark.parametrize(
    "body",
    [
        "don't stop calling",
        "I can't stop by today",
        "stop by anytime after 5",
        "Stop. I'll call you tomorrow",
        "cancel my appointment",
        "can we cancel the inspection?",
        "end of the month works",
        "the end",
        "quit my job, need to sell",
        "Yes, I want to sell",
        "stopping by at noon",
        "unstoppable",
        "alto precio",
        "please",
        "",
        "🛑",
    ],
)
def test_ordinary_sentences_are_not_opt_outs(body):
    assert opt_out_keyword(body) is None


_DECORATIONS = st.sampled_from(["", " ", "  ", ".", "!", "!!", "?", "...", " 🛑", "\n"])
_CASINGS = st.sampled_from([str.lower, str.upper, str.title, lambda s: s])


@given(
    phrase=st.sampled_from(sorted(OPT_OUT_KEYWORDS)),
    casing=_CASINGS,
    before=_DECORATIONS,
    after=_DECORATIONS,
    lead=st.sampled_from(["", *POLITE_LEADING]),
    trail=st.sampled_from(["", *POLITE_TRAILING]),
)
def test_any_keyword_however_written_is_its_canonical_form(
    phrase, casing, before, after, lead, trail
):
    body = " ".join(part for part in (lead, casing(phrase), trail) if part)
    assert opt_out_keyword(before + body + after) == OPT_OUT_KEYWORDS[phrase]


_ORDINARY_WORDS = st.sampled_from([
    "by", "my", "the", "of", "to", "calling", "sign", "tomorrow", "appointment", "offer",
    "don't", "can't", "i", "we", "house", "date", "meeting", "price", "inspection", "deal",
])  # fmt: skip


@given(phrase=st.sampled_from(sorted(OPT_OUT_KEYWORDS)), word=_ORDINARY_WORDS, first=st.booleans())
def test_a_keyword_inside_a_sentence_is_not_an_opt_out(phrase, word, first):
    body = f"{phrase} {word} today" if first else f"{word} {phrase} today"
    assert opt_out_keyword(body) is None


def test_objects_only_follow_verbs_that_take_one():
    assert all(opt_out_keyword(f"stop {obj}") == "STOP" for obj in OBJECTS)
    assert opt_out_keyword("cancel it") is None  # an appointment, most likely
    assert opt_out_keyword("end it") is None


@pytest.mark.parametrize("body", ["START", "start", "Unstop", "YES", "yes!", " Yes. "])
def test_opt_in_keywords(body):
    assert opt_in_keyword(body)


@pytest.mark.parametrize("body", ["yes please call me", "start over", "STOP", "", "restart"])
def test_opt_in_needs_the_bare_keyword(body):
    assert not opt_in_keyword(body)
