"""``hk demo``: the end-to-end job on the embedded defaults, with a summary at the end."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from hk_cli.demo_automations import print_automations, run_automations
from hk_cli.main import run_import
from hk_core.settings import get_settings

console = Console()
BOOK_ENDS_DAYS_AGO = 3


def _api_check(conninfo: str) -> list[tuple[str, str]]:
    from hk_core.apikeys import create_api_key

    with psycopg.connect(conninfo) as conn:
        _, token = create_api_key(conn, "hk demo")
    lead = {
        "source": "web_form", "external_id": f"demo-{time.time_ns()}",
        "first_name": "Dana", "last_name": "Whitfield", "email": "dana.whitfield@example.com",
        "phone": "(512) 555-0147", "property_street": "4417 North Loop Blvd",
        "property_city": "Austin", "property_state": "TX", "property_zip": "78756",
        "motivation": "inherited the house", "timeline": "ASAP", "asking_price": "$310,000",
    }  # fmt: skip
    checks = []
    from serving.background import BackgroundServer

    with (
        BackgroundServer() as base,
        httpx.Client(base_url=base, headers={"X-API-Key": token}) as client,
    ):
        started = time.perf_counter()
        first = client.post(
            "/v1/leads", json=lead, headers={"Idempotency-Key": lead["external_id"]}
        )
        elapsed_ms = (time.perf_counter() - started) * 1000
        checks.append(
            (
                "POST /v1/leads",
                f"{first.status_code} lead_id={first.json().get('lead_id')} ({elapsed_ms:.1f} ms)",
            )
        )
        replay = client.post(
            "/v1/leads", json=lead, headers={"Idempotency-Key": lead["external_id"]}
        )
        checks.append(
            (
                "replay, same Idempotency-Key",
                f"{replay.status_code}, same body: {replay.content == first.content}",
            )
        )
        again = client.post("/v1/leads", json=lead)
        checks.append(
            (
                "same source+external_id again",
                f"{again.status_code} created={again.json().get('created')}",
            )
        )
        bad = client.post("/v1/leads", json={**lead, "bedrooms": "lots"})
        checks.append(("bad bedrooms", f"{bad.status_code} {bad.json()['detail'][0]['loc']}"))
        got = client.get(f"/v1/leads/{first.json()['lead_id']}")
        checks.append(
            ("GET /v1/leads/{id}", f"{got.status_code} phone_e164={got.json().get('phone_e164')}")
        )
        checks.append(("no API key", str(httpx.post(f"{base}/v1/leads", json=lead).status_code)))
        checks.append(("/health/ready", client.get("/health/ready").json()["status"]))
    return checks


def _run_pipelines():
    """Every Dagster asset over the days that have data, on the persistent instance."""
    import dagster as dg

    from hk_pipelines.runner import prepare_dagster_home, run_everything

    prepare_dagster_home()
    started = time.perf_counter()
    console.rule("Pipelines (Dagster): lake, enrichment, warehouse, marts, model, scores")
    with dg.DagsterInstance.get() as instance:
        runs = run_everything(instance)
    return runs, time.perf_counter() - started


def _print_pipelines(conninfo: str, runs, seconds: float) -> None:
    from hk_core.lake import Lake

    table = Table(title=f"Pipelines (Dagster, {seconds:,.0f} s; runs are in `hk ui`)")
    for column in ("pipeline", "days", "result", "run"):
        table.add_column(column)
    for run in runs:
        days = f"{run.first_day} .. {run.last_day}" if run.first_day else "–"
        result = "ok" if run.success else "FAILED"
        if run.note:
            result += f": {run.note}"
        table.add_row(run.name, days, result, (run.run_id or "")[:8])
    console.print(table)
    lake = Lake.from_settings()
    with psycopg.connect(conninfo) as conn:
        enriched = conn.execute(
            """select count(*), avg(address_parsed::int), avg((apn is not null)::int),
                      avg(is_owner_of_record::int), avg(is_absentee_owner::int),
                      avg(email_is_valid::int), avg(phone_is_valid::int),
                      avg(tax_delinquent::int), percentile_cont(0.5) within group (order by equity_ratio)
               from raw.enriched_leads"""
        ).fetchone()
        n_events = conn.execute("select count(*) from raw.lead_stage_events").fetchone()
    assert enriched is not None and n_events is not None
    table = Table(title=f"Lake ({lake.root_url}) and warehouse")
    table.add_column("what")
    table.add_column("value", justify="right")
    for zone, dataset in (("raw", "leads"), ("enriched", "leads"), ("raw", "stage_events")):
        table.add_row(
            f"lake {zone}/{dataset} partitions", f"{len(lake.partitions(zone, dataset)):,}"
        )
    table.add_row("raw.enriched_leads rows", f"{enriched[0]:,}")
    table.add_row("raw.lead_stage_events rows", f"{n_events[0]:,}")

    def share(value) -> str:
        return "–" if value is None else f"{float(value):.1%}"

    for label, value in zip(
        ("address standardised", "county record matched", "submitter is owner of record",
         "absentee owner", "email valid", "phone valid", "tax delinquent"),
        enriched[1:8],
        strict=True,
    ):  # fmt: skip
        table.add_row(label, share(value))
    table.add_row("median equity ratio", share(enriched[8]))
    console.print(table)


def _print_marts(conninfo: str) -> None:
    """The funnel and the training set, as the dbt marts have them."""
    with psycopg.connect(conninfo) as conn:
        exists = conn.execute("select to_regclass('marts.funnel_conversion')").fetchone()
        if not exists or exists[0] is None:
            console.print("[yellow]marts not built (see the pipeline runs above)[/yellow]")
            return
        steps = conn.execute(
            """select c.from_stage, c.to_stage, sum(c.n_leads_from), sum(c.n_leads_to),
                      (select percentile_cont(0.5) within group (order by f.days_since_previous_stage)
                       from intermediate.int_lead_funnel as f where f.stage = c.to_stage)
               from marts.funnel_conversion as c
               group by c.step_order, c.from_stage, c.to_stage order by c.step_order"""
        ).fetchall()
        training = conn.execute(
            """select count(*), avg(is_converted::int), min(received_at)::date,
                      max(received_at)::date, avg(is_under_contract_90d::int)
               from marts.lead_training_set"""
        ).fetchone()
        sizes = [
            (table, conn.execute(f"select count(*) from marts.{table}").fetchone())
            for table in ("lead_features", "lead_training_set", "funnel_daily",
                          "funnel_conversion", "scored_leads")
        ]  # fmt: skip
    table = Table(title="Funnel (marts.funnel_conversion: reached the stage or further)")
    for column in ("step", "leads at from", "reached to", "conversion", "median days"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for from_stage, to_stage, n_from, n_to, median_days in steps:
        table.add_row(
            f"{from_stage} → {to_stage}",
            f"{n_from:,}",
            f"{n_to:,}",
            f"{n_to / n_from:.1%}" if n_from else "–",
            "–" if median_days is None else f"{median_days:.1f}",
        )
    console.print(table)
    table = Table(title="Marts (dbt, in Postgres)")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, row in sizes:
        table.add_row(f"marts.{name}", f"{row[0]:,}" if row else "–")
    assert training is not None
    if training[0]:
        table.add_row(
            "training set: the label (a closed deal, dbt vars label_stage / label_window_days)",
            f"{training[1]:.1%} of leads received {training[2]} .. {training[3]}",
        )
        table.add_row(
            "training set: under contract within 90 days (second label)",
            "–" if training[4] is None else f"{training[4]:.1%}",
        )
    console.print(table)


def _print_model(conninfo: str) -> None:
    """The champion's holdout metrics against the baseline, and the best-scored open leads."""
    from ml.registry import CHAMPION, KIND_TAG, MODEL_NAME, configure, tracking_uri
    from ml.workflow import KIND_NAMES, champion_line

    client = configure(tracking_uri(get_settings()))
    try:
        model = client.get_registered_model(MODEL_NAME)
    except Exception:  # nothing registered: the pipeline table above says why
        console.print("[yellow]no model registered (see the pipeline runs above)[/yellow]")
        return
    version = model.aliases.get(CHAMPION)
    role = "champion"
    if version is None:
        # Show the newest version: why it is not champion is the interesting part.
        version, role = max(int(v.version) for v in model.latest_versions), "not promoted"
    found = client.get_model_version(MODEL_NAME, str(version))
    kind = KIND_NAMES.get(found.tags.get(KIND_TAG, "xgboost"), "model")
    metrics = client.get_run(str(found.run_id)).data.metrics
    table = Table(
        title=f"Model {MODEL_NAME} v{version} ({role}: {kind}) on its run's most recent holdout"
    )
    for column in ("metric", "XGBoost", "logistic baseline"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name in ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "top_decile_lift",
                 "top_decile_capture"):  # fmt: skip
        model_value, baseline_value = metrics.get(name), metrics.get(f"baseline_{name}")
        table.add_row(
            name,
            "–" if model_value is None else f"{model_value:.4f}",
            "–" if baseline_value is None else f"{baseline_value:.4f}",
        )
    console.print(table)
    console.print(f"[bold]gate:[/bold] {champion_line(client)}")
    if role != "champion":
        console.print("[yellow]no champion yet, so no scores: the gate's reason is above[/yellow]")
        return
    with psycopg.connect(conninfo) as conn:
        top = conn.execute(
            """select lead_id, source, current_stage, score, score_decile, reason_codes
               from marts.scored_leads where score is not null order by score_rank limit 10"""
        ).fetchall()
    table = Table(title="Top open leads by score (marts.scored_leads, what the CRM reads)")
    for column in ("lead", "source", "stage", "score", "decile", "top reasons"):
        table.add_column(column, justify="right" if column in ("score", "decile") else "left")
    for lead_id, source, stage, score, decile, reasons in top:
        why = "; ".join(r["text"] for r in reasons[:2])
        table.add_row(str(lead_id), source, stage, f"{score:.3f}", str(decile), why)
    console.print(table)
    _online_check(conninfo, [(row[0], row[3]) for row in top[:5]])


def _online_check(conninfo: str, batch: list[tuple[int, float]]) -> None:
    """The same leads through the API's online route: same score as the nightly batch."""
    from hk_core.apikeys import create_api_key
    from serving.background import BackgroundServer

    with psycopg.connect(conninfo) as conn:
        _, token = create_api_key(conn, "hk demo scores")
    table = Table(title="Online scores (GET /v1/leads/{id}/score on a real server) vs the batch")
    for column in ("lead", "batch score", "online score", "same", "model", "decile", "ms"):
        table.add_column(column, justify="left" if column == "model" else "right")
    with (
        BackgroundServer() as base,
        httpx.Client(base_url=base, headers={"X-API-Key": token}, timeout=30) as client,
    ):
        for lead_id, batch_score in batch:
            started = time.perf_counter()
            response = client.get(f"/v1/leads/{lead_id}/score")
            elapsed_ms = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                table.add_row(str(lead_id), f"{batch_score:.6f}", str(response.status_code),
                              "no", "", "", f"{elapsed_ms:.1f}")  # fmt: skip
                continue
            body = response.json()
            same = abs(body["score"] - batch_score) <= 1e-6
            table.add_row(
                str(lead_id), f"{batch_score:.6f}", f"{body['score']:.6f}", "yes" if same else "NO",
                f"v{body['model_version']}", str(body["decile"]),
                f"{elapsed_ms:.1f}",
            )  # fmt: skip
    console.print(table)


def run_demo(*, leads: int, seed: int) -> int:
    from hk_cli.progress import count_progress
    from hk_core.db import database_url
    from hk_core.migrate import upgrade
    from hk_core.synthetic import generate_book

    settings = get_settings()
    where = (
        "embedded Postgres under " + str(settings.home.resolve())
        if settings.embedded
        else "HK_DATABASE_URL"
    )
    console.rule("Hidden Key demo")
    console.print(f"database: {where}")
    conninfo = database_url(settings)
    applied = upgrade(conninfo)
    console.print(f"migrations applied now: {len(applied)}")

    data_dir = settings.home / "demo-data" / f"seed{seed}-leads{leads}"
    if not (data_dir / "leads.csv").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # The book is history: it ends before speed-to-lead's 72 hours, so the only sellers the
        # automations contact are the demo's own arrivals, at fictional numbers.
        as_of = datetime.now(UTC).date() - timedelta(days=BOOK_ENDS_DAYS_AGO)
        with count_progress("generating a synthetic book", leads) as progress:
            generate_book(leads, seed, data_dir, as_of=as_of, progress=progress)
    console.print(f"data: {data_dir}")

    imports = []
    for kind, name in (
        ("properties", "properties.csv"),
        ("leads", "leads.csv"),
        ("events", "stage_events.csv"),
    ):
        started = time.perf_counter()
        result, rejects = run_import(kind, data_dir / name, "csv")
        imports.append((kind, result, time.perf_counter() - started, rejects))

    checks = _api_check(conninfo)
    automations = run_automations(settings, conninfo)
    pipeline_runs, pipeline_seconds = _run_pipelines()

    table = Table(title="Imports")
    for column in ("file", "rows", "accepted", "rejected", "stored now", "already there", "rows/s"):
        table.add_column(column, justify="right" if column != "file" else "left")
    for kind, result, seconds, _ in imports:
        table.add_row(
            kind,
            f"{result.rows:,}",
            f"{result.accepted:,}",
            f"{result.rejected:,}",
            f"{result.stored:,}",
            f"{result.duplicates:,}",
            f"{result.rows / seconds:,.0f}",
        )
    console.print(table)

    reasons: Counter[str] = Counter()
    for _, result, _, _ in imports:
        reasons.update(f"{e.field}: {e.reason.split(':')[0]}" for e in result.errors)
    if reasons:
        table = Table(title="Why rows were rejected (all rows with reasons are in *.rejects.csv)")
        table.add_column("field: reason")
        table.add_column("rows", justify="right")
        for reason, n in reasons.most_common(8):
            table.add_row(reason, f"{n:,}")
        console.print(table)

    with psycopg.connect(conninfo) as conn:
        by_source = conn.execute(
            """with converted as (
                   select distinct lead_id from app.stage_events
                   where stage in ('under_contract', 'closed_won'))
               select l.source, count(*) as n_leads,
                      count(*) filter (where l.email_normalized is not null) as n_email_ok,
                      count(*) filter (where l.phone_e164 is not null) as n_phone_ok,
                      count(c.lead_id) as n_contract
               from app.leads as l left join converted as c using (lead_id)
               group by 1 order by 2 desc"""
        ).fetchall()
    table = Table(title="Leads by source")
    for column in ("source", "leads", "email normalised", "phone E.164", "reached contract"):
        table.add_column(column, justify="right" if column != "source" else "left")
    for source, n, email_ok, phone_ok, contract in by_source:
        table.add_row(
            source, f"{n:,}", f"{email_ok / n:.0%}", f"{phone_ok / n:.0%}", f"{contract / n:.1%}"
        )
    console.print(table)
    table = Table(title="API check (real server on loopback)")
    table.add_column("request")
    table.add_column("result")
    for name, outcome in checks:
        table.add_row(name, outcome)
    console.print(table)
    print_automations(console, automations)
    _print_pipelines(conninfo, pipeline_runs, pipeline_seconds)
    _print_marts(conninfo)
    _print_model(conninfo)
    console.print(
        "Next: [bold]uv run hk serve[/bold] for the API (leads and scores), "
        "[bold]uv run hk ui[/bold] for the Dagster UI, "
        '[bold]uv run hk lake sql "select …"[/bold] for the lake, '
        "[bold]uv run hk api-keys create NAME[/bold] for a key. "
        "[bold]uv run hk dbt build[/bold] to rebuild the marts."
    )
    return 0
