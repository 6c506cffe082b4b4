"""Deals: one per lead that reached offer_made, read, listed and patched (docs/deals.md).

A deal is made and its ``status`` kept equal to the lead's stage by the database trigger on
``app.stage_events`` (hk_core/migrations/0009); nothing here writes ``status``. What a person
edits are the figures and dates of the deal. Money is ``Decimal`` from the text the client
sent, never through a float: a JSON body is parsed with :func:`parse_body`, which keeps a
number's digits as written. Every patch writes one audit row (chain ``lead:<lead_id>``, action
``deal_updated``) in the transaction that changes the deal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from orchestrator.audit import Auditor
from orchestrator.funnel import STAGES

MONEY_FIELDS = ("offer_amount", "contract_price", "assignment_fee")
DATE_FIELDS = ("contract_date", "closing_date")
PATCHABLE = (*MONEY_FIELDS, *DATE_FIELDS, "notes")
# numeric(14, 2): twelve digits before the point, two after.
MAX_MONEY = Decimal("999999999999.99")
MAX_NOTES_CHARS = 10_000
# A plain decimal as written: digits, optionally a point and digits. No exponent, no sign but a
# leading minus (refused as negative with its own message), no spaces, no thousands separators.
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The longest text a money value can be and still be refused for the right reason.
_MAX_MONEY_TEXT = 64

COLUMNS = (
    "deal_id", "lead_id", "status", "offer_amount", "contract_price", "assignment_fee",
    "contract_date", "closing_date", "notes", "offer_made_at", "status_changed_at",
    "created_at", "updated_at", "updated_by",
)  # fmt: skip
_SELECT = f"""
select {", ".join("d." + name for name in COLUMNS)},
    coalesce(stage.stage, 'new') as lead_stage
from app.deals as d
left join lateral (
    select s.stage from app.stage_events as s where s.lead_id = d.lead_id
    order by s.occurred_at desc, s.event_id desc limit 1
) as stage on true
"""


class DealError(Exception):
    """A request about deals that is refused; ``field`` names the part of the body at fault."""

    def __init__(self, status: int, message: str, *, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field


class JsonNumber(str):
    """A JSON number with a fraction or exponent, kept as the text that was sent."""


def _refuse_constant(name: str) -> Any:
    raise DealError(422, f"body: {name} is not a number JSON allows", field="body")


def parse_body(raw: bytes) -> dict[str, Any]:
    """A patch body: a JSON object whose numbers keep their digits (integers as ``int``)."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise DealError(422, "body: not UTF-8 text", field="body") from None
    try:
        body = json.loads(text, parse_float=JsonNumber, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise DealError(422, f"body: not JSON ({exc.msg} at character {exc.pos})",
                        field="body") from None  # fmt: skip
    except RecursionError:
        raise DealError(422, "body: nested too deeply", field="body") from None
    if not isinstance(body, dict):
        raise DealError(422, "body: must be a JSON object of the fields to change", field="body")
    return body


def parse_money(name: str, value: Any) -> Decimal | None:
    """A money field as sent: a decimal string or a JSON number, at most 2 decimals, not
    negative, within numeric(14,2). ``None`` clears the figure."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DealError(422, f'{name}: must be a decimal string such as "1234.50", a number, '
                        "or null", field=name)  # fmt: skip
    text = str(value)
    if len(text) > _MAX_MONEY_TEXT or not _DECIMAL.fullmatch(text):
        shown = text if len(text) <= _MAX_MONEY_TEXT else text[:_MAX_MONEY_TEXT] + "…"
        raise DealError(422, f"{name}: {shown!r} is not a plain decimal (digits, optionally a "
                        "point and at most 2 decimals; no exponent, spaces or separators)",
                        field=name)  # fmt: skip
    if text.startswith("-"):
        raise DealError(422, f"{name}: must not be negative ({text})", field=name)
    decimals = len(text.partition(".")[2])
    if decimals > 2:
        raise DealError(422, f"{name}: at most 2 decimal places ({text} has {decimals})",
                        field=name)  # fmt: skip
    amount = Decimal(text)
    if amount > MAX_MONEY:
        raise DealError(422, f"{name}: at most {MAX_MONEY} (numeric(14,2)); {text} is beyond it",
                        field=name)  # fmt: skip
    return amount


def parse_date(name: str, value: Any) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise DealError(422, f"{name}: must be a date as YYYY-MM-DD, or null", field=name)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DealError(422, f"{name}: {value!r} is not a calendar date", field=name) from None


def parse_notes(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DealError(422, "notes: must be text or null", field="notes")
    if len(value) > MAX_NOTES_CHARS:
        raise DealError(422, f"notes: at most {MAX_NOTES_CHARS:,} characters", field="notes")
    if "\x00" in value:
        raise DealError(422, "notes: contains a NUL character", field="notes")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise DealError(422, "notes: is not valid Unicode (a lone surrogate)",
                        field="notes") from None  # fmt: skip
    return value


def parse_patch(body: dict[str, Any]) -> dict[str, Any]:
    """The fields to set, typed; a field that may not be patched is refused by name."""
    if "status" in body:
        raise DealError(422, "status: not patchable; a deal's status follows its lead's stage "
                        "(move the lead: POST /v1/leads/{lead_id}/stage)", field="status")  # fmt: skip
    unknown = sorted(set(body) - set(PATCHABLE))
    if unknown:
        raise DealError(422, f"{unknown[0]}: not a field of a deal that can be changed; the "
                        f"fields are {', '.join(PATCHABLE)}", field=unknown[0])  # fmt: skip
    if not body:
        raise DealError(422, f"body: name at least one of {', '.join(PATCHABLE)}", field="body")
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name in MONEY_FIELDS:
            changes[name] = parse_money(name, value)
        elif name in DATE_FIELDS:
            changes[name] = parse_date(name, value)
        else:
            changes[name] = parse_notes(value)
    return changes


def etag(deal: dict[str, Any]) -> str:
    """A strong validator: the deal and the instant it last changed (microseconds)."""
    updated: datetime = deal["updated_at"]
    micros = int(updated.timestamp()) * 1_000_000 + updated.microsecond
    return f'"{deal["deal_id"]}-{micros}"'


def etag_matches(if_match: str, current: str) -> bool:
    """RFC 9110 If-Match: ``*`` or a list of strong tags, one of them the current one."""
    tags = [tag.strip() for tag in if_match.split(",")]
    return "*" in tags or current in tags


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):  # as stored and answered: two decimals
        return f"{value:.2f}"
    return str(value)


@dataclass(frozen=True)
class DealPage:
    deals: list[dict[str, Any]]
    next_cursor: str | None


async def get(
    conn: psycopg.AsyncConnection, deal_id: int, *, lock: bool = False
) -> dict[str, Any] | None:
    sql = _SELECT + " where d.deal_id = %s" + (" for update of d" if lock else "")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, (deal_id,))
        return await cur.fetchone()


async def for_lead(conn: psycopg.AsyncConnection, lead_id: int) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SELECT + " where d.lead_id = %s", (lead_id,))
        return await cur.fetchone()


async def find(
    conn: psycopg.AsyncConnection,
    *,
    status: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> DealPage:
    """Newest deal first; ``before`` is the last deal id of the previous page (keyset)."""
    if status is not None and status not in STAGES:
        raise DealError(422, f"status: {status!r} is not one of {', '.join(STAGES)}",
                        field="status")  # fmt: skip
    where: list[str] = []
    params: list[Any] = []
    if status is not None:
        where.append("d.status = %s")
        params.append(status)
    if before is not None:
        where.append("d.deal_id < %s")
        params.append(before)
    sql = _SELECT + (" where " + " and ".join(where) if where else "")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql + " order by d.deal_id desc limit %s", (*params, limit + 1))
        rows = await cur.fetchall()
    page = rows[:limit]
    return DealPage(page, str(page[-1]["deal_id"]) if len(rows) > limit else None)


async def update(
    conn: psycopg.AsyncConnection,
    auditor: Auditor,
    deal_id: int,
    changes: dict[str, Any],
    *,
    actor: str,
    if_match: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Set ``changes`` (parsed by :func:`parse_patch`) on the deal, audited, in one transaction.

    ``if_match``: the ETag the caller last read; a deal changed since then is a 412. Values
    equal to the stored ones are not changes: a patch that changes nothing writes nothing.
    """
    async with conn.transaction():
        deal = await get(conn, deal_id, lock=True)
        if deal is None:
            raise DealError(404, f"no deal {deal_id}")
        current = etag(deal)
        if if_match is not None and not etag_matches(if_match, current):
            raise DealError(412, f"deal {deal_id} changed since that ETag was read (it is "
                            f"{current} now): read it again and reapply the change")  # fmt: skip
        after = {**{name: deal[name] for name in PATCHABLE}, **changes}
        contract, closing = after["contract_date"], after["closing_date"]
        if contract is not None and closing is not None and closing < contract:
            field = "closing_date" if "closing_date" in changes else "contract_date"
            raise DealError(422, f"{field}: the closing date ({closing}) is before the contract "
                            f"date ({contract})", field=field)  # fmt: skip
        changed = {name: value for name, value in changes.items() if value != deal[name]}
        if not changed:
            return deal
        sets = ", ".join(f"{name} = %s" for name in changed)
        # Strictly later than the last change, so the ETag always moves.
        await conn.execute(
            f"update app.deals set {sets}, updated_by = %s, "
            "updated_at = greatest(clock_timestamp(), updated_at + interval '1 microsecond') "
            "where deal_id = %s",
            (*changed.values(), actor, deal_id),
        )
        await auditor.record(
            conn, chain=f"lead:{deal['lead_id']}", actor=actor, action="deal_updated",
            lead_id=deal["lead_id"], reason=reason,
            detail={"deal_id": deal_id,
                    "changes": {name: {"before": _text(deal[name]), "after": _text(value)}
                                for name, value in changed.items()}},
        )  # fmt: skip
        updated = await get(conn, deal_id)
        assert updated is not None
        return updated


def to_json(deal: dict[str, Any]) -> dict[str, Any]:
    """A deal as the API shows it: money as strings with two decimals, exact."""
    shown = {name: deal.get(name) for name in (*COLUMNS, "lead_stage")}
    for name in MONEY_FIELDS:
        value = shown[name]
        shown[name] = None if value is None else f"{value:.2f}"
    return shown


async def record_offer(
    conn: psycopg.AsyncConnection,
    auditor: Auditor,
    lead_id: int,
    amount: Decimal,
    *,
    actor: str,
    reason: str,
) -> int | None:
    """The lead's deal gets the approved offer (in the caller's transaction); its deal id, or
    None when the lead has no deal (its move to offer_made was refused)."""
    cur = await conn.execute("select deal_id from app.deals where lead_id = %s", (lead_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    await update(conn, auditor, row[0], {"offer_amount": amount}, actor=actor, reason=reason)
    return int(row[0])
