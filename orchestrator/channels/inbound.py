"""What arrives from the SMS provider: signed webhooks, and the keywords that change consent.

Signature: Twilio's X-Twilio-Signature is base64(HMAC-SHA1(auth token, URL + every POST
parameter's name and value, in sorted name order)). Twilio documents that the URL it signs may
or may not carry the port (`https://host/...` vs `https://host:443/...`), so both forms pass.

Opt-out rule (`opt_out_keyword`). Twilio and the carriers act on a message that *is* a
keyword; CTIA asks senders to honour those and plain variants of them. This module is a little
more generous than an exact match, and never reads a keyword inside a sentence:

1. Normalise: Unicode NFKC, case-folded, accents kept, hyphens and underscores become spaces,
   whitespace collapsed, punctuation and symbols (emoji included) stripped from both ends.
2. Drop polite words at either end ("please", "pls", "thanks", "now", "por favor", "ya", ...).
3. What is left must be a keyword (STOP, STOPALL / STOP ALL, UNSUBSCRIBE, CANCEL, END, QUIT,
   REVOKE, OPTOUT / OPT OUT, Spanish ALTO, PARAR, BAJA, CANCELAR), optionally repeated
   ("stop stop"), and for STOP, QUIT and UNSUBSCRIBE optionally followed by what is being
   stopped, from a closed list ("texting me", "messaging me", "contacting me", "me", "it").

So "Stop.", " STOP!! ", "stop please", "Please stop texting me", "opt-out", "BAJA" opt out;
"don't stop calling", "I can't stop by today", "cancel my appointment", "end of the month"
do not. A free-form refusal ("leave me alone") is not a keyword: it arrives as a reply, and a
reply already ends every running sequence of the lead.

Opt-in (`opt_in_keyword`): START, UNSTOP, YES, only as the whole message after step 1, since
resubscribing must be deliberate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping
from urllib.parse import SplitResult, urlsplit, urlunsplit

OPT_OUT_KEYWORDS: dict[str, str] = {
    "stop": "STOP",
    "stopall": "STOPALL",
    "stop all": "STOPALL",
    "unsubscribe": "UNSUBSCRIBE",
    "cancel": "CANCEL",
    "end": "END",
    "quit": "QUIT",
    "revoke": "REVOKE",
    "optout": "OPTOUT",
    "opt out": "OPTOUT",
    "alto": "ALTO",
    "parar": "PARAR",
    "baja": "BAJA",
    "cancelar": "CANCELAR",
}
OPT_IN_KEYWORDS = frozenset({"start", "unstop", "yes"})
# Verbs whose object may follow ("stop texting me"); "cancel my ..." or "end of ..." are
# ordinary sentences about other things.
KEYWORDS_WITH_OBJECT = frozenset({"STOP", "QUIT", "UNSUBSCRIBE"})
OBJECTS = frozenset({
    "me", "it", "this", "texting", "texting me", "texts", "the texts", "messaging me",
    "messages", "the messages", "sending texts", "sending me texts", "sending messages",
    "contacting me", "calling me", "me from this list", "me from your list",
})  # fmt: skip
POLITE_LEADING = ("please", "pls", "plz", "kindly", "just", "por favor")
POLITE_TRAILING = (
    "please", "pls", "plz", "now", "right now", "thanks", "thank you", "thx", "ty",
    "asap", "immediately", "por favor", "gracias", "ya",
)  # fmt: skip
_LONGEST_FIRST_LEADING = sorted(POLITE_LEADING, key=len, reverse=True)
_LONGEST_FIRST_TRAILING = sorted(POLITE_TRAILING, key=len, reverse=True)
_DEFAULT_PORTS = {"https": 443, "http": 80}
_SEPARATORS = re.compile(r"[\s\-_]+")
# Punctuation that touches a space ("STOP!!! STOP", "stop, please"); an apostrophe inside a
# word ("don't") stays, so the sentence stays a sentence.
_INNER_PUNCTUATION = re.compile(r"[^\w\s]*\s+[^\w\s]*")


def twilio_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    """The X-Twilio-Signature Twilio would send for a POST of `params` to `url`."""
    signed = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_twilio_signature(
    url: str, params: Mapping[str, str], auth_token: str, signature: str | None
) -> bool:
    """True when `signature` is Twilio's for this request, with or without the URL's port."""
    if not signature:
        return False
    given = signature.encode()
    return any(
        hmac.compare_digest(twilio_signature(form, params, auth_token).encode(), given)
        for form in _url_forms(url)
    )


def _url_forms(url: str) -> list[str]:
    """The URL as given, plus the same URL with its scheme's default port added or removed."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if default is None or not parts.netloc:
        return [url]
    if port is None:
        return [url, _with_netloc(parts, f"{parts.netloc}:{default}")]
    if port == default:
        return [url, _with_netloc(parts, parts.netloc[: parts.netloc.rfind(":")])]
    return [url]


def _with_netloc(parts: SplitResult, netloc: str) -> str:
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _normalise(body: str) -> str:
    """Step 1 of the module's rule: case, width, separators and edge punctuation away."""
    text = unicodedata.normalize("NFKC", body).casefold()
    text = _INNER_PUNCTUATION.sub(" ", _SEPARATORS.sub(" ", text)).strip()
    start, end = 0, len(text)
    while start < end and _is_edge_noise(text[start]):
        start += 1
    while end > start and _is_edge_noise(text[end - 1]):
        end -= 1
    return text[start:end].strip()


def _is_edge_noise(char: str) -> bool:
    return char.isspace() or unicodedata.category(char)[0] in "PSZ" or char in "\u200d\ufe0f"


def _strip_polite(text: str) -> str:
    """Step 2: polite words off both ends, as often as they appear ("please stop now thanks")."""
    changed = True
    while changed:
        changed = False
        for word in _LONGEST_FIRST_LEADING:
            if text.startswith(word + " "):
                text, changed = _normalise(text[len(word) :]), True
        for word in _LONGEST_FIRST_TRAILING:  # "right now" before "now"
            if text.endswith(" " + word):
                text, changed = _normalise(text[: -len(word)]), True
    return text


def opt_out_keyword(body: str) -> str | None:
    """The canonical keyword (STOP, STOPALL, OPTOUT, BAJA, ...) when `body` opts out, else None."""
    text = _strip_polite(_normalise(body))
    for phrase in sorted(OPT_OUT_KEYWORDS, key=len, reverse=True):
        canonical = OPT_OUT_KEYWORDS[phrase]
        if text == phrase:
            return canonical
        if not text.startswith(phrase + " "):
            continue
        rest = _normalise(text[len(phrase) :])
        if opt_out_keyword(rest) is not None:
            return canonical  # keywords only: "stop stop", "STOP. Unsubscribe"
        if canonical in KEYWORDS_WITH_OBJECT and rest in OBJECTS:
            return canonical
    return None


def opt_in_keyword(body: str) -> bool:
    """True when the whole message is START, UNSTOP or YES (any case, edge punctuation)."""
    return _normalise(body) in OPT_IN_KEYWORDS
