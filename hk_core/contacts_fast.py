"""Contact normalisation without the libraries, for the shapes where their answer is proven.

``hk_core.pii`` normalises emails with email-validator and phones with phonenumbers, and those
libraries stay the source of truth. Bulk import spends much of its validation time in them,
on values that are nearly all in a handful of plain shapes. For such a value this module
computes the libraries' answer directly; for any other value it returns ``None``, which means
"not proven: ask the library" (it never means "invalid"). tests/test_pii_fast.py holds both
paths to the same answers on generated shapes, near misses and a whole synthetic book.

Phone: the shape (``NANP_SHAPE``), for default region US only
-------------------------------------------------------------
ASCII only, at most 16 spaces or tabs either side, then an optional ``+1`` or ``1`` followed by
at most one of ``" .-"``, then the area code as ``(AAA)`` plus an optional space or as ``AAA``
plus at most one of ``" .-"``, then ``EEE``, at most one of ``" .-"``, ``SSSS``; A is
``[2-9][0-9]{2}`` and E, S are ``[0-9]``. Examples: ``5125550199``, ``512-555-0199``,
``(512) 555-0199``, ``512.555.0199``, ``+1 512 555 0199``, ``1-512-555-0199``. Call the ten
digits ``AAAEEESSSS`` D. Claim: ``phonenumbers.parse(raw, "US")`` returns country code 1 and
national number D, with no extension and no Italian leading zero. Walking ``parse``:

1. ``len(raw) <= 49 < 250``, so no TOO_LONG. There is no ``;``, so no RFC 3966
   ``;phone-context=`` or ``;isub=``; ``_extract_possible_number`` drops the leading blanks
   (and a leading ``(``) up to the first digit or ``+``, drops the trailing blanks (they are
   ``[^#\\w]``), and finds no ``[\\/] *x`` second number. What is left is the shape without its
   surrounding blanks: digits and ``+ ( ) . -`` and space, all in ``_VALID_PUNCTUATION`` (or a leading
   ``+``), with at least three digits, so ``_is_viable_phone_number`` holds.
2. ``_maybe_strip_extension``: every alternative of ``_EXTN_PATTERN`` needs a letter (``ext``,
   ``x``, ``int``, ``anexo``, …), ``#``, ``~``, ``,`` or ``;``, none of which the shape has. No
   extension. Nor are there letters for ``_normalize`` to read as a vanity number (it needs
   three), so normalising any part keeps exactly its ASCII digits.
3. ``_maybe_extract_country_code`` with the US metadata (premises checked at run time, see
   below: country code 1, international prefix ``011``, national prefix for parsing ``1``
   without a transform rule, general possible lengths ending below 11 and no 11 among the
   local-only lengths, and the main region of calling code 1 is US):

   * ``+1`` D: the plus is stripped and the rest normalised to ``1`` D (11 digits, more than 2),
     and ``_extract_country_code`` takes the one-digit prefix 1 first: country code 1, rest D.
   * ``1`` D: no plus; the digits do not start with ``011``; they start with ``1``, the region's
     code, so D is tried: the national prefix pattern ``1`` does not match D (D starts with
     2-9), and ``_test_number_length`` of the 11 digits is TOO_LONG, so country code 1, rest D.
   * D: no plus, no ``011`` (D starts with 2-9), does not start with ``1``: country code 0,
     and ``parse`` takes the normalised number, D, with the region's country code 1.

   In the two first cases the region of calling code 1 is US, the default region, so the
   metadata stays US's.
4. National prefix: the pattern ``1`` does not match D, so D is kept. ``len(D) == 10`` is
   within 2..17, and D does not start with 0, so no Italian leading zero: national number D.

Validity: ``valid_phone`` asks ``is_valid_number_for_region(number, "US")`` first. The country
code (1) is US's, and the national significant number is D, so the answer is
``_number_type_helper(D, US metadata) != UNKNOWN``: D matches the general description (its
possible lengths, when listed, include 10, and its national number pattern fully matches), and
then matches at least one of premium rate, toll free, shared cost, VoIP, personal number,
pager, UAN, voicemail, fixed line, or, unless the metadata says mobile and fixed line share a
pattern, mobile, each under the same length-then-pattern rule. ``NanpFastPath`` evaluates
exactly that with the descriptions read from ``PhoneMetadata.metadata_for_region("US")`` when
it is built. When it holds, ``valid_phone`` returns the number, and ``format_number``'s E.164
branch writes ``"+"``, the country code and the national significant number: ``"+1"`` D. When it does not, ``valid_phone`` would go on to ``is_valid_number`` (Canada, the
Caribbean), so this module returns ``None`` and the library decides.

Email: the shape (``email_fast``)
---------------------------------
After ``str.strip()`` (as ``validated_email`` does): one ``@``; before it a local part of at
most 64 characters matching email-validator's own ``DOT_ATOM_TEXT`` (ASCII atext runs joined
by single dots); after it a domain of at least two labels, each ``[A-Za-z0-9]+(-[A-Za-z0-9]+)*``
of at most 63 characters, the last one letters only; at most 254 characters in all. The
domain must not be, or end with ``.`` plus, a name in the live
``email_validator.SPECIAL_USE_DOMAIN_NAMES`` (those values go to the library, which refuses
them unless its test environment allows ``test``). Claim: ``validate_email(stripped,
check_deliverability=False)`` accepts it and its ``normalized`` is the local part (lower-cased
when it is one of ``CASE_INSENSITIVE_MAILBOX_NAMES``) ``@`` the domain lower-cased:

* ``split_email``: ASCII text is NFC-stable, and atext has no ``@``, ``<``, ``"`` or ``\\``,
  so the split is at the one ``@``, with no display name and no quoted local part.
* Local part: non-empty and matches ``DOT_ATOM_TEXT``, so it is returned as is (and needs no
  SMTPUTF8); NFC leaves it unchanged; the RFC 2142 names are lower-cased by the same rule as
  here. At most 64 characters, so ``strict`` and hk_core.pii's 64-octet rule both pass.
* Domain (``validate_email_domain_name``): at most 252 characters (254 minus ``a@``), within
  the 253 limit;
  ``[A-Za-z0-9.-]`` are hostname characters, safe (categories L, N, P) and UTS-46-valid;
  ``uts46_remap`` maps ASCII upper-case letters to lower-case and keeps the rest; single
  hyphens inside labels and single dots between them pass ``check_dot_atom``, and with no
  ``--`` there is no R-LDH label and no ``xn--`` Punycode, so the domain comes back as the
  lower-cased input; labels are at most 63; it has a dot and ends with a letter (so
  ``globally_deliverable`` makes no difference); special-use names were sent to the library.
* Lengths: ASCII, so octets are characters, and the original, normalised and ASCII forms are
  all as long as the stripped input, at most 254.
* ``allow_smtputf8``, ``allow_empty_local``, ``allow_quoted_local``, ``allow_domain_literal``,
  ``allow_display_name``, ``strict``, ``globally_deliverable`` and ``test_environment`` gate
  only inputs the shape excludes, so their module defaults do not matter. Deliverability (DNS)
  is never proven here: ``hk_core.pii`` uses this path only when it is off.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import email_validator
import phonenumbers
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT
from phonenumbers import PhoneMetadata

NANP_SHAPE = re.compile(
    r"[ \t]{0,16}"
    r"(?:\+?1[ .-]?)?"
    r"(?:\(([2-9][0-9]{2})\) ?|([2-9][0-9]{2})[ .-]?)"
    r"([0-9]{3})[ .-]?([0-9]{4})"
    r"[ \t]{0,16}"
)
FAST_PHONE_REGIONS = frozenset({"US"})
NSN_LENGTH = 10

DOMAIN_SHAPE = re.compile(r"(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\.)+[A-Za-z]+")
MAX_LOCAL_CHARS = 64
MAX_LABEL_CHARS = 63
MAX_ADDRESS_CHARS = 254


def email_fast(raw: str) -> str | None:
    """email-validator's ``normalized`` form of ``raw.strip()`` when the shape proves it (the
    module docstring), else None: not proven, ask the library."""
    address = raw.strip()
    if len(address) > MAX_ADDRESS_CHARS or not address.isascii():
        return None
    local, at, domain = address.partition("@")
    if not at or len(local) > MAX_LOCAL_CHARS or DOT_ATOM_TEXT.match(local) is None:
        return None
    if DOMAIN_SHAPE.fullmatch(domain) is None:
        return None
    domain = domain.lower()
    labels = domain.split(".")
    if max(map(len, labels)) > MAX_LABEL_CHARS:
        return None
    # Read the list at call time: it is part of email-validator's API and callers may change it.
    for name in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        if domain == name or domain.endswith("." + name):
            return None
    if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        local = local.lower()
    return local + "@" + domain


@dataclass(frozen=True, slots=True)
class _Desc:
    """One PhoneNumberDesc as _is_number_matching_desc reads it, for a number of NSN_LENGTH."""

    pattern: re.Pattern[str] | None  # None: the description cannot match a ten-digit number


def _desc_for_ten_digits(desc: phonenumbers.PhoneNumberDesc | None) -> _Desc:
    if desc is None or not desc.national_number_pattern:
        return _Desc(None)
    lengths = desc.possible_length or ()
    if lengths and NSN_LENGTH not in lengths:
        return _Desc(None)
    return _Desc(re.compile(desc.national_number_pattern))


class NanpFastPath:
    """E.164 for NANP_SHAPE values whose number ``is_valid_number_for_region`` accepts for the
    region, by that function's rule over the region's own metadata."""

    def __init__(self, metadata: PhoneMetadata):
        general = _desc_for_ten_digits(metadata.general_desc)
        if general.pattern is None:
            raise ValueError("the general description does not admit ten-digit numbers")
        self._general = general.pattern
        type_descs: Sequence[phonenumbers.PhoneNumberDesc | None] = [
            metadata.premium_rate, metadata.toll_free, metadata.shared_cost, metadata.voip,
            metadata.personal_number, metadata.pager, metadata.uan, metadata.voicemail,
            metadata.fixed_line,
        ]  # fmt: skip
        if not metadata.same_mobile_and_fixed_line_pattern:
            type_descs = [*type_descs, metadata.mobile]
        self._types = tuple(
            d.pattern for d in map(_desc_for_ten_digits, type_descs) if d.pattern is not None
        )

    def is_valid_for_region(self, nsn: str) -> bool:
        if self._general.fullmatch(nsn) is None:
            return False
        return any(pattern.fullmatch(nsn) is not None for pattern in self._types)

    def e164(self, raw: str) -> str | None:
        """``"+1"`` and the ten digits when proven valid, else None: ask the library."""
        shape = NANP_SHAPE.fullmatch(raw)
        if shape is None:
            return None
        bracketed, bare, exchange, subscriber = shape.groups()
        nsn = (bracketed or bare) + exchange + subscriber
        return "+1" + nsn if self.is_valid_for_region(nsn) else None


def nanp_fast_path(region: str) -> NanpFastPath | None:
    """The fast path for ``region`` when the proof's premises hold in the installed
    phonenumbers metadata (module docstring, step 3), else None."""
    if region not in FAST_PHONE_REGIONS:
        return None
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or metadata.general_desc is None:
        return None
    general = metadata.general_desc
    general_lengths = tuple(general.possible_length or ())
    premises = (
        metadata.country_code == 1
        and phonenumbers.region_code_for_country_code(1) == region
        and metadata.international_prefix == "011"
        and metadata.national_prefix_for_parsing == "1"
        and not metadata.national_prefix_transform_rule
        and NSN_LENGTH in general_lengths
        and max(general_lengths) < NSN_LENGTH + 1
        and NSN_LENGTH + 1 not in (general.possible_length_local_only or ())
    )
    return NanpFastPath(metadata) if premises else None
