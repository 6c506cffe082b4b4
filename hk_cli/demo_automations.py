"""The demo's automations: the worker over the book and four sellers who arrive now, on sinks.

The book is history (it ends three days before the demo runs), and the shipped speed-to-lead
rule only acts on leads received in the last 72 hours, so the book alone would show a worker
that, correctly, sends nothing. Four sellers therefore arrive now through ``POST /v1/leads``:
one consented, one without consent, one consented where it is now quiet hours, and one who
answers the first text with STOP (through the signed inbound webhook) and then fills in a
second form. Each is placed where its case shows on today's clock; the worker decides
everything at send time as it would for anyone. Texts and emails go to an SMS sink and an SMTP
sink on loopback unless the settings name real channels, which are then used and named.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import psycopg
from pydantic import SecretStr
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hk_cli.demo_tasks import TaskWalk, print_task_walk, run_task_walk
from hk_core.settings import Settings
from orchestrator.quiet_hours import next_allowed, zones_for
from orchestrator.rules import RulesFile

# Fictional contacts only: 555-0100..0199 is reserved for fiction, example.com for examples.
DEMO_FROM_NUMBER = "+15125550100"
CASE_MARGIN = timedelta(minutes=10)
WORKER_LOG = "demo-worker.log"
LOGGERS = ("procrastinate", "orchestrator", "uvicorn", "serving")
QUIET_LOGGERS = ("psycopg", "mail.log")


@dataclass(frozen=True)
class Place:
    city: str
    state: str
    zip_code: str
    area_code: str
    street: str

    def zone(self) -> str:
        return zones_for(state=self.state, zip_code=self.zip_code, phone_e164=None).names[0]

    def local(self, now: datetime) -> str:
        return now.astimezone(ZoneInfo(self.zone())).strftime("%H:%M")


# From the mainland out: the first one whose clock shows the case is used.
PLACES = (
    Place("Austin", "TX", "78756", "512", "4417 North Loop Blvd"),
    Place("Brooklyn", "NY", "11215", "718", "210 Prospect Park W"),
    Place("Denver", "CO", "80205", "303", "2810 Gilpin St"),
    Place("Los Angeles", "CA", "90026", "213", "1520 Echo Park Ave"),
    Place("Anchorage", "AK", "99501", "907", "745 W 4th Ave"),
    Place("Honolulu", "HI", "96813", "808", "1450 Ala Moana Blvd"),
    Place("San Juan", "PR", "00907", "787", "1055 Calle Loiza"),
    Place("Hagåtña", "GU", "96910", "671", "120 Marine Corps Dr"),
)


@dataclass
class Arrival:
    role: str
    place: Place | None  # None: no place shows the case on today's clock
    consent: bool
    phone: str = ""
    email: str = ""
    lead_id: int | None = None
    note: str = ""
    arrived_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Channel:
    name: str  # "SMS" or "email"
    where: str  # the sink's URL, or what the settings name
    sink: bool


@dataclass
class AutomationsReport:
    channels: list[Channel]
    arrivals: list[Arrival]
    started_at: datetime
    dispatched: int = 0  # lead_created events the worker dispatched
    matched: int = 0  # of which started a rule
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (outcome, channel)
    texts_at_sink: int | None = None
    emails_at_sink: int | None = None
    opt_outs: int = 0
    per_lead: dict[int, list[tuple]] = field(default_factory=dict)
    log_path: str = ""
    tasks: TaskWalk | None = None


def sms_configured(settings: Settings) -> bool:
    return bool(settings.sms_account_sid and settings.sms_auth_token and settings.sms_from_number)


def choose_places(now: datetime, rules: RulesFile) -> tuple[Place | None, Place | None]:
    """(a place where a text may go now, one where it is quiet hours now), by the real rules,
    each staying so for ``CASE_MARGIN``: the worker decides a few seconds after the choice."""
    open_place = quiet_place = None
    later = now + CASE_MARGIN
    for place in PLACES:
        zones = zones_for(state=place.state, zip_code=place.zip_code, phone_e164=None)
        allowed = [next_allowed(at, zones, rules.hours, place.state) for at in (now, later)]
        if allowed == [now, later]:
            open_place = open_place or place
        elif allowed[0] is not None and allowed[0] > later:
            quiet_place = quiet_place or place
    return open_place, quiet_place


def plan_arrivals(now: datetime, rules: RulesFile, first_line: int) -> list[Arrival]:
    open_place, quiet_place = choose_places(now, rules)
    anywhere = open_place or PLACES[0]  # all clocks quiet: the texts are deferred, and say so
    arrivals = [
        Arrival("consented", anywhere, True),
        Arrival("no consent", anywhere, False),
        Arrival("consented, quiet hours", quiet_place, True),
        Arrival("consented, texts STOP", anywhere, True),
    ]
    for index, arrival in enumerate(arrivals):
        if arrival.place is None:
            arrival.note = "no US clock is in quiet hours now"
            continue
        # Lines 0101-0199: each demo run its own, so an earlier run's STOP blocks nobody new.
        line = 101 + (first_line + index) % 99
        arrival.phone = f"+1{arrival.place.area_code}555{line:04d}"
        arrival.email = f"seller{line}@example.com"
    return arrivals


def _lead_body(arrival: Arrival, external_id: str, source: str = "web_form") -> dict:
    assert arrival.place is not None
    return {
        "source": source, "external_id": external_id, "first_name": "Sam",
        "phone": arrival.phone, "email": arrival.email,
        "property_street": arrival.place.street, "property_city": arrival.place.city,
        "property_state": arrival.place.state, "property_zip": arrival.place.zip_code,
        "consent_sms": arrival.consent, "consent_email": arrival.consent,
        "received_at": datetime.now(UTC).isoformat(),
    }  # fmt: skip


@contextmanager
def _spinner(label: str) -> Iterator[Callable[[int, int], None]]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(label)

        def update(running: int, due: int) -> None:
            bar.update(task, description=f"{label}: {running} jobs running, {due} due")

        yield update


def _run_worker(settings: Settings, rules: RulesFile, label: str) -> None:
    from orchestrator.worker import run_until_idle

    with _spinner(label) as update:
        asyncio.run(run_until_idle(settings, rules=rules, on_poll=update))


def run_automations(settings: Settings, conninfo: str) -> AutomationsReport:
    """Sinks (or the configured channels), the API, the arrivals, the worker; then the report."""
    from hk_core.apikeys import create_api_key
    from hk_core.logging import logs_to_file
    from orchestrator.channels import twilio_signature
    from orchestrator.rules import load_rules
    from orchestrator.sinks import SmsSink, SmtpSink
    from serving.app import create_app
    from serving.background import BackgroundServer

    rules = load_rules(settings.automations_file)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        _, token = create_api_key(conn, "hk demo automations")
        row = conn.execute(
            "select now(), count(*) from app.leads where external_id like 'demo-arrival-%'"
        ).fetchone()
    assert row is not None
    started_at, earlier = row
    arrivals = plan_arrivals(datetime.now(UTC), rules, earlier)
    use_sms_sink, use_smtp_sink = not sms_configured(settings), settings.smtp_url is None
    sms = SmsSink() if use_sms_sink else None
    smtp = SmtpSink() if use_smtp_sink else None
    api_updates: dict = {"scoring_enabled": False}  # no model before the pipelines run
    if sms is not None:
        api_updates.update(
            sms_account_sid=sms.account_sid, sms_auth_token=SecretStr(sms.auth_token),
            sms_from_number=DEMO_FROM_NUMBER,
        )  # fmt: skip

    def api_settings(base: str) -> Settings:
        # With the sink, delivery callbacks and unsubscribe links come back to this API.
        updates = {**api_updates, **({"public_base_url": base} if sms is not None else {})}
        return settings.model_copy(update=updates)

    report_channels: list[Channel] = []
    log_path = settings.home / "logs" / WORKER_LOG
    with ExitStack() as stack:
        stack.enter_context(logs_to_file(log_path, LOGGERS, quiet=QUIET_LOGGERS))
        server = BackgroundServer(lambda base: create_app(api_settings(base), migrate=False))
        base = stack.enter_context(server)
        served = api_settings(base)
        # Entered after the API, so stopped before it: the sink's last delivery callbacks land.
        worker_updates: dict = dict(api_updates)
        if sms is not None:
            stack.enter_context(sms)
            worker_updates.update(sms_base_url=sms.base_url, public_base_url=base)
            report_channels.append(Channel("SMS", f"sink {sms.base_url}", True))
        else:
            report_channels.append(Channel("SMS", f"yours: {settings.sms_base_url}", False))
        if smtp is not None:
            stack.enter_context(smtp)
            worker_updates["smtp_url"] = SecretStr(smtp.url)
            report_channels.append(Channel("email", f"sink {smtp.url}", True))
        else:
            report_channels.append(Channel("email", "yours: HK_SMTP_URL", False))
        worker_settings = settings.model_copy(update=worker_updates)
        client = stack.enter_context(
            httpx.Client(base_url=base, headers={"X-API-Key": token}, timeout=30)
        )
        run = time.time_ns()
        for index, arrival in enumerate(arrivals):
            if arrival.place is None:
                continue
            answer = client.post(
                "/v1/leads", json=_lead_body(arrival, f"demo-arrival-{run}-{index}")
            )
            answer.raise_for_status()
            arrival.lead_id = answer.json()["lead_id"]
        _run_worker(
            worker_settings, rules, "automations: the book and the sellers who just arrived"
        )
        stopper = next(a for a in arrivals if "STOP" in a.role)
        assert served.sms_auth_token is not None
        if stopper.lead_id is not None:
            url = f"{served.public_base_url.rstrip('/')}/v1/webhooks/sms/inbound"
            form = {"MessageSid": f"SMdemo{run}", "From": stopper.phone,
                    "To": served.sms_from_number or "", "Body": "STOP"}  # fmt: skip
            signature = twilio_signature(url, form, served.sms_auth_token.get_secret_value())
            client.post(
                "/v1/webhooks/sms/inbound", data=form, headers={"X-Twilio-Signature": signature}
            ).raise_for_status()
            again = Arrival("same seller, 2nd form", stopper.place, True,
                            stopper.phone, stopper.email)  # fmt: skip
            answer = client.post(
                "/v1/leads", json=_lead_body(again, f"demo-arrival-{run}-again", "ppc")
            )
            answer.raise_for_status()
            again.lead_id = answer.json()["lead_id"]
            arrivals.append(again)
            _run_worker(worker_settings, rules, "automations: the STOP and the second form")
        consented = arrivals[0]
        walk = None
        if consented.lead_id is not None:
            walk = run_task_walk(
                client, worker_settings, conninfo, consented.lead_id,
                lambda label: _run_worker(worker_settings, rules, label),
            )  # fmt: skip
    report = AutomationsReport(report_channels, arrivals, started_at)
    report.tasks = walk
    report.log_path = str(log_path)
    if sms is not None:
        report.texts_at_sink = len(sms.messages)
    if smtp is not None:
        report.emails_at_sink = smtp.unique_count()
    _read_outcomes(conninfo, report)
    return report


def _read_outcomes(conninfo: str, report: AutomationsReport) -> None:
    since = report.started_at
    with psycopg.connect(conninfo) as conn:
        dispatched = conn.execute(
            """select count(*), count(r.event_id)
               from app.automation_events as e
               left join (select distinct event_id from app.automation_runs
                          where started_at >= %(since)s) as r using (event_id)
               where e.kind = 'lead_created' and e.dispatched_at >= %(since)s""",
            {"since": since},
        ).fetchone()
        messages = conn.execute(
            "select channel, status, purpose, coalesce(status_reason, '') from app.messages "
            "where updated_at >= %s",
            (since,),
        ).fetchall()
        opt_outs = conn.execute(
            "select count(*) from app.inbound_messages where keyword is not null "
            "and received_at >= %s",
            (since,),
        ).fetchone()
        lead_ids = [a.lead_id for a in report.arrivals if a.lead_id is not None]
        for lead_id, channel, status, purpose, reason, send_after in conn.execute(
            """select lead_id, channel, status, purpose, status_reason, send_after
               from app.messages where lead_id = any(%s) order by message_id""",
            (lead_ids,),
        ).fetchall():
            report.per_lead.setdefault(lead_id, []).append(
                (channel, status, purpose, reason, send_after)
            )
    assert dispatched is not None and opt_outs is not None
    report.dispatched, report.matched = dispatched
    report.opt_outs = opt_outs[0]
    for channel, status, purpose, reason in messages:
        report.outcomes[(_outcome(status, purpose, reason), channel)] += 1


def _reason(status: str, reason: str) -> str:
    """A message's outcome in a few words: "blocked: no consent", "deferred: quiet hours"."""
    check, _, detail = reason.partition(": ")
    if status == "blocked":
        return f"blocked: {(detail or check).split(' (')[0]}"
    if status == "failed":
        return f"failed: {check}"
    if status == "deferred":
        return f"deferred: {check.replace('_', ' ')}"
    return status


def _outcome(status: str, purpose: str, reason: str) -> str:
    # A delivery callback can land a moment after the summary is read: sent covers both.
    status = "sent" if status == "delivered" else status
    if purpose == "compliance":
        return f"{status}: the opt-out confirmation"
    return _reason(status, reason)


def _message_text(rows: list[tuple], channel: str, place: Place | None) -> str:
    parts = []
    for row_channel, status, purpose, reason, send_after in rows:
        if row_channel != channel:
            continue
        if purpose == "compliance":
            parts.append(f"STOP: confirmation {status}")
        elif status == "deferred" and place is not None:
            local = send_after.astimezone(ZoneInfo(place.zone())).strftime("%H:%M")
            parts.append(f"deferred to {local} local")
        else:
            parts.append(_reason(status, reason or ""))
    return "; ".join(parts) or "–"


def print_automations(console: Console, report: AutomationsReport) -> None:
    table = Table(title="Automations: sellers who just arrived (POST /v1/leads)")
    for column in ("seller", "property, local time of arrival", "text", "email"):
        table.add_column(column)
    for arrival in report.arrivals:
        if arrival.place is None or arrival.lead_id is None:
            table.add_row(arrival.role, "–", arrival.note, "–")
            continue
        rows = report.per_lead.get(arrival.lead_id, [])
        table.add_row(
            arrival.role,
            f"{arrival.place.city}, {arrival.place.state} {arrival.place.local(arrival.arrived_at)}",
            _message_text(rows, "sms", arrival.place),
            _message_text(rows, "email", arrival.place),
        )
    console.print(table)
    sinks = all(c.sink for c in report.channels)
    where = (
        "SMS and SMTP sinks on loopback"
        if sinks
        else "; ".join(f"{c.name}: {c.where}" for c in report.channels)
    )
    table = Table(title=f"Automations: messages the worker decided ({where})")
    table.add_column("outcome")
    table.add_column("texts", justify="right")
    table.add_column("emails", justify="right")
    order = sorted({o for o, _ in report.outcomes}, key=lambda o: (not o.startswith("sent"), o))
    for outcome in order:
        table.add_row(
            outcome,
            f"{report.outcomes[(outcome, 'sms')]:,}",
            f"{report.outcomes[(outcome, 'email')]:,}",
        )

    def at_sink(count: int | None) -> str:
        return "–" if count is None else f"{count:,}"

    table.add_row(
        "received at the sinks", at_sink(report.texts_at_sink), at_sink(report.emails_at_sink)
    )
    table.add_row("opt-outs by text (every channel stops)", f"{report.opt_outs:,}", "")
    console.print(table)
    console.print(
        f"New leads dispatched: {report.dispatched:,}; {report.dispatched - report.matched:,} "
        "matched no rule (speed-to-lead acts on leads of the last 72 h; the book ends three days "
        f"ago). The API check's lead has no consent. Worker log: {report.log_path}"
    )
    print_task_walk(console, report.tasks)
