"""dbt marts: `hk dbt build` full against incremental (one new day), on 100k and 1M leads.

    uv run python benchmarks/bench_dbt.py [--sizes 100000 1000000] [--runs 3] [--large-runs 1]
                                          [--data DIR] [--split-junk-keys] [--keep-db]

Creates a fresh database `hk_bench_dbt` and migrates it. Loads a small synthetic book
(`hk generate --leads 5000 --seed 1`) through the real path once: the three `hk … import`
commands, then `hk pipeline run` (lake, enrichment, warehouse, marts; ~5-7 min, most of it
Dagster's per-day bookkeeping). The book's last day is held back as "the new day". For each
size N, raw.enriched_leads gets exactly N leads by replicating the enriched book in SQL (copy
k: ids + k*10^7; contact hashes, address key and APN made distinct per copy except junk keys,
see JUNK_MIN_LEADS; money scaled by a per-lead factor in [0.95, 1.05]; days and times kept),
with the stage events of the copied leads, and ml.lead_scores a score for every open lead.
Then, with hyperfine (`--runs` up to 100k leads, `--large-runs` above):

- full: `hk dbt build --full-refresh` (models + tests) and `hk dbt run --full-refresh`;
- incremental: the held-back day (about N/450 leads and that day's stage events) is inserted
  into raw.*, as the warehouse load would, then `hk dbt build --select tag:daily`,
  `hk dbt run --select tag:daily` and the whole `hk dbt build`, with min_date = max_date =
  that day. Each run's --prepare deletes the day from marts.lead_features and
  marts.funnel_daily, so every run adds a new day to the marts;
- floor, in both batches: `hk dbt run --select stg_lead_scores` (start-up, partial parse,
  connect, one view).

Every command gets the same --vars, so dbt's partial parsing stays valid between commands; the
full re-parse a real daily run pays (its vars change every day) is timed once on its own.
`--data DIR` keeps the book and the pipeline's raw.* output and reuses them next time (no
pipeline run).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from common import (
    HK,
    REPO,
    SAMPLE_REASONS,
    bench_env,
    database_url,
    drop_database,
    fresh_database,
    machine,
    psql,
    require,
)  # fmt: skip

DB = "hk_bench_dbt"
URL = database_url(DB)
COPY_STRIDE = 10_000_000  # copy k of lead/event id x is x + k * COPY_STRIDE
# A contact hash or address key shared by this many leads of the 5,000-lead base book is not a
# person but junk that normalises to one key: the generator's "call after 5" phone (about 2% of
# leads) hashes as the digits "5". A real 1M-lead book has one such phone hash on ~19,300
# leads, so copies keep it (unless --split-junk-keys) instead of making it a new person.
JUNK_MIN_LEADS = 20
MONEY = ("assessed_value", "estimated_value", "last_sale_price", "mortgage_balance_estimate",
         "equity", "asking_price", "mortgage_balance")  # fmt: skip


def db(sql: str) -> str:
    try:
        return psql(sql, url=URL)
    except subprocess.CalledProcessError as error:
        sys.exit(f"psql failed: {error.stderr.strip()}\n{sql}")


def run_hk(args: list[str], env: dict[str, str], *, ok: tuple[int, ...] = (0,)) -> str:
    """`hk …`; the imports exit 1 when the book's bad-on-purpose rows are rejected."""
    print("$ hk", shlex.join(args), flush=True)
    started = time.monotonic()
    result = subprocess.run([HK, *args], cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode not in ok:
        sys.exit(f"`hk {shlex.join(args)}` failed ({result.returncode}):\n"
                 f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}")  # fmt: skip
    lines = [line for line in result.stdout.strip().splitlines() if line.strip()]
    print(f"  ({time.monotonic() - started:.0f} s) {lines[-1] if lines else ''}", flush=True)
    return result.stdout


# -- the base book ------------------------------------------------------------------------------


def load_base(data: Path, env: dict[str, str], split_junk_keys: bool) -> None:
    """raw.* from the real path (generate, import, pipeline), or from a previous run's copy."""
    saved = {t: data / f"raw_{t}.csv" for t in ("enriched_leads", "lead_stage_events")}
    if all(p.exists() for p in saved.values()):
        print(f"reusing the pipeline's raw.* output saved in {data}")
        for table, path in saved.items():
            db(f"\\copy raw.{table} from {shlex.quote(str(path))} with (format csv, header)")
    else:
        book = data / "book"
        if not (book / "leads.csv").exists():
            run_hk(["generate", "--leads", "5000", "--seed", "1", "--out", str(book)], env)
        run_hk(["reference", "import", "properties", str(book / "properties.csv")], env, ok=(0, 1))
        run_hk(["leads", "import", str(book / "leads.csv")], env, ok=(0, 1))
        run_hk(["events", "import", str(book / "stage_events.csv")], env, ok=(0, 1))
        run_hk(["pipeline", "run"], env)
        for table, path in saved.items():
            db(f"\\copy raw.{table} to {shlex.quote(str(path))} with (format csv, header)")
    db("create schema bench")
    db("create table bench.base_leads as table raw.enriched_leads")
    db("create table bench.base_events as table raw.lead_stage_events")
    db("create table bench.junk_keys (key text primary key)")
    if not split_junk_keys:
        db(f"""insert into bench.junk_keys
            select key from bench.base_leads,
                 unnest(array[email_hash, phone_hash, address_key, apn]) as key
            where key is not null group by key having count(*) >= {JUNK_MIN_LEADS}""")
    print("junk keys kept in every copy:", db("select count(*) from bench.junk_keys"),
          "values, on", db("select count(*) from bench.base_leads where email_hash in "
                           "(select key from bench.junk_keys) or phone_hash in "
                           "(select key from bench.junk_keys) or address_key in "
                           "(select key from bench.junk_keys)"), "base leads")  # fmt: skip
    db("truncate raw.enriched_leads, raw.lead_stage_events, ml.lead_scores")
    # the pipeline's marts are rebuilt by the first full refresh
    db("drop schema if exists staging, intermediate, marts cascade")


def columns(table: str) -> list[str]:
    schema, name = table.split(".")
    out = db("select column_name from information_schema.columns "
             f"where table_schema = '{schema}' and table_name = '{name}' order by ordinal_position")  # fmt: skip
    return out.splitlines()


def lead_expression(column: str) -> str:
    """Copy k of a base lead's column (copy 0 is the base lead itself)."""
    if column == "lead_id":
        return f"b.lead_id + p.k * {COPY_STRIDE}"
    if column == "external_id":
        return "case when p.k = 0 then b.external_id else b.external_id || '~' || p.k end"
    # Another person (another property) in every copy; null stays null. A junk key, shared by
    # many unrelated leads in the base book, stays the same in every copy (see JUNK_MIN_LEADS).
    keep = f"p.k = 0 or b.{column} in (select key from bench.junk_keys)"
    if column in ("email_hash", "phone_hash"):
        return (f"case when {keep} then b.{column} "
                f"else encode(sha256(convert_to(b.{column} || '~' || p.k, 'UTF8')), 'hex') end")  # fmt: skip
    if column in ("address_key", "apn"):
        return f"case when {keep} then b.{column} else b.{column} || '~' || p.k end"
    if column in MONEY:
        return f"round(b.{column} * p.factor, 2)"
    return f"b.{column}"


def event_expression(column: str) -> str:
    if column in ("event_id", "lead_id"):
        return f"e.{column} + p.k * {COPY_STRIDE}"
    if column == "external_id":
        return "case when p.k = 0 then e.external_id else e.external_id || '~' || p.k end"
    return f"e.{column}"


def scale(n: int, new_day: date) -> dict[str, int]:
    """raw.* with exactly n leads before new_day, and new_day's rows in bench.new_*."""
    n_body, n_day = (int(x) for x in db(
        f"select count(*) filter (where received_date < '{new_day}'), "
        f"count(*) filter (where received_date = '{new_day}') from bench.base_leads").split("|"))  # fmt: skip
    copies, rest = divmod(n, n_body)
    day_rest = round(n_day * rest / n_body)
    print(f"scaling to {n:,} leads: {copies} copies of the {n_body:,} leads before {new_day} "
          f"+ {rest:,} of them once more; new day: {n_day} x {copies} + {day_rest} leads", flush=True)  # fmt: skip
    db("truncate raw.enriched_leads, raw.lead_stage_events, ml.lead_scores")
    db("drop table if exists bench.picked, bench.new_leads, bench.new_events")
    # Which base lead goes into which copy: all of them into copies 0..copies-1, a random (by
    # md5 of the id) subset into the last, partial copy, in the same share before and on the day.
    db(f"""create table bench.picked as
        with ranked as (
            select lead_id, received_date = '{new_day}' as is_day,
                   row_number() over (partition by received_date = '{new_day}'
                                      order by md5(lead_id::text)) as rn
            from bench.base_leads
        )
        select k, lead_id, is_day,
               case when k = 0 then 1.0
                    else 0.95 + (abs(hashtext(lead_id || '~' || k)) % 1001) / 10000.0
               end as factor
        from ranked cross join generate_series(0, {copies}) as k
        where k < {copies} or rn <= case when is_day then {day_rest} else {rest} end""")
    lead_cols = columns("raw.enriched_leads")
    select = ", ".join(lead_expression(c) for c in lead_cols)
    source = "from bench.base_leads b join bench.picked p using (lead_id)"
    db(f"insert into raw.enriched_leads ({', '.join(lead_cols)}) "
       f"select {select} {source} where not p.is_day")  # fmt: skip
    db("create table bench.new_leads (like raw.enriched_leads)")
    db(f"insert into bench.new_leads select {select} {source} where p.is_day")
    event_cols = columns("raw.lead_stage_events")
    select = ", ".join(event_expression(c) for c in event_cols)
    source = "from bench.base_events e join bench.picked p using (lead_id)"
    db(f"insert into raw.lead_stage_events ({', '.join(event_cols)}) "
       f"select {select} {source} where e.occurred_date < '{new_day}'")  # fmt: skip
    db("create table bench.new_events (like raw.lead_stage_events)")
    db(f"insert into bench.new_events select {select} {source} "
       f"where e.occurred_date = '{new_day}'")  # fmt: skip
    # The nightly rescoring's output: a score for every open lead (scored_leads ranks them).
    db(f"""insert into ml.lead_scores
             (lead_id, score, model_name, model_version, reason_codes, scored_at)
        select l.lead_id, (abs(hashtext(l.lead_id::text)) % 10000) / 10000.0, 'bench', 'bench-1',
               '{SAMPLE_REASONS}'::jsonb, timestamptz '{new_day}' - interval '22 hours'
        from raw.enriched_leads l
        where not exists (select 1 from raw.lead_stage_events e
                          where e.lead_id = l.lead_id and e.stage in ('closed_won', 'closed_lost'))""")
    db("vacuum analyze raw.enriched_leads")
    db("vacuum analyze raw.lead_stage_events")
    db("vacuum analyze ml.lead_scores")
    counts = db("""select (select count(*) from raw.enriched_leads),
                          (select count(*) from raw.lead_stage_events),
                          (select count(*) from ml.lead_scores),
                          (select count(*) from bench.new_leads),
                          (select count(*) from bench.new_events),
                          pg_size_pretty(pg_total_relation_size('raw.enriched_leads')
                                         + pg_total_relation_size('raw.lead_stage_events'))""")
    leads, events, scores, new_leads, new_events, size = counts.split("|")
    print(f"raw.enriched_leads {int(leads):,}, raw.lead_stage_events {int(events):,}, "
          f"ml.lead_scores {int(scores):,} ({size}); held back for {new_day}: "
          f"{int(new_leads):,} leads, {int(new_events):,} events", flush=True)  # fmt: skip
    assert int(leads) == n
    return {"leads": int(leads), "events": int(events), "scores": int(scores),
            "new_leads": int(new_leads), "new_events": int(new_events)}  # fmt: skip


def add_new_day() -> None:
    """The warehouse load of the new day. No ANALYZE: a day is ~0.2% of the table, far below
    autovacuum's analyze threshold, so in production dbt runs on the old statistics too."""
    db("insert into raw.enriched_leads select * from bench.new_leads")
    db("insert into raw.lead_stage_events select * from bench.new_events")


# -- timing -------------------------------------------------------------------------------------


class Dbt:
    """`hk dbt …` command lines, each with its own target folder (for its run_results.json)."""

    def __init__(self, work: Path, dbt_vars: str) -> None:
        self.work, self.vars = work, dbt_vars

    def target(self, name: str) -> Path:
        return self.work / "target" / name.replace(" ", "_").replace(":", "").replace("-", "")

    def command(self, name: str, args: str) -> str:
        target = shlex.quote(str(self.target(name)))
        return (
            f"{shlex.quote(HK)} dbt {args} --vars {shlex.quote(self.vars)} --target-path {target}"
        )


def warm(dbt: Dbt, commands: list[tuple[str, str, str]], env: dict[str, str]) -> None:
    """One small build (so the Python bytecode of dbt's run and test paths is cached), and its
    parsed project copied into each command's target folder, so every timed run parses
    partially."""
    warm_up = dbt.work / "target" / "warm-up"
    args = ["dbt", "build", "--select", "stg_lead_scores", "--vars", dbt.vars,
            "--target-path", str(warm_up)]  # fmt: skip
    result = subprocess.run([HK, *args], cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"`hk {shlex.join(args)}` failed:\n{result.stdout[-3000:]}")
    for name, _prepare, _command in commands:
        target = dbt.target(name)
        target.mkdir(parents=True, exist_ok=True)
        for file in ("partial_parse.msgpack", "manifest.json"):
            shutil.copy(warm_up / file, target / file)


def hyperfine(runs: int, commands: list[tuple[str, str, str]], env: dict[str, str]) -> dict:
    """Time (name, prepare, command) triples with hyperfine; returns its results by name."""
    export = Path(tempfile.mkstemp(prefix="hk-bench-", suffix=".json")[1])
    command = ["hyperfine", "--runs", str(runs), "--warmup", "0", "--style", "basic",
               "--export-json", str(export)]  # fmt: skip
    for name, prepare, run in commands:
        command += ["--prepare", prepare or "true", "--command-name", name, run]
    print(f"$ hyperfine --runs {runs} " + " ".join(shlex.quote(n) for n, _, _ in commands),
          flush=True)  # fmt: skip
    subprocess.run(command, check=True, env=env)
    results = json.loads(export.read_text())["results"]
    export.unlink()
    return {r["command"]: r for r in results}


def slowest_nodes(target: Path, top: int = 6) -> str:
    """The last run's slowest models and tests, from dbt's run_results.json."""
    path = target / "run_results.json"
    if not path.exists():
        return ""
    results = json.loads(path.read_text())["results"]
    results.sort(key=lambda r: -r["execution_time"])
    total = sum(r["execution_time"] for r in results)
    tests = sum(r["execution_time"] for r in results if r["unique_id"].startswith("test."))
    parts = [
        f"{r['unique_id'].split('.')[-1][:48]} {r['execution_time']:.1f}" for r in results[:top]
    ]
    return (
        f"    nodes: {len(results)}, summed {total:.1f} s (tests {tests:.1f} s); slowest: "
        + ", ".join(parts)
    )


def fmt(result: dict) -> str:
    stddev = result.get("stddev")
    spread = f" ± {stddev:5.2f}" if stddev is not None else "        "
    return f"{result['mean']:7.2f}{spread} s (min {result['min']:.2f}, n={len(result['times'])})"


def bench_size(n: int, runs: int, new_day: date, work: Path, env: dict[str, str]) -> dict:
    """Full and incremental timings on n leads; returns hyperfine's results by name."""
    print(f"\n=== {n:,} leads ===", flush=True)
    counts = scale(n, new_day)
    dbt = Dbt(work / str(n), json.dumps({"min_date": str(new_day), "max_date": str(new_day)}))
    drop_day = (f"psql {shlex.quote(URL)} -Xq -v ON_ERROR_STOP=1 "
                f"-c \"delete from marts.lead_features where received_date = '{new_day}'\" "
                f"-c \"delete from marts.funnel_daily where activity_date = '{new_day}'\"")  # fmt: skip
    full = [
        ("floor", "", dbt.command("floor", "run --select stg_lead_scores")),
        ("full build", "", dbt.command("full build", "build --full-refresh")),
        ("full run", "", dbt.command("full run", "run --full-refresh")),
    ]
    incremental = [
        ("incr build daily", drop_day, dbt.command("incr build daily", "build --select tag:daily")),
        ("incr run daily", drop_day, dbt.command("incr run daily", "run --select tag:daily")),
        ("incr build all", drop_day, dbt.command("incr build all", "build")),
        ("floor again", "", dbt.command("floor", "run --select stg_lead_scores")),
    ]
    warm(dbt, [*full, *incremental], env)
    started = time.monotonic()
    results = hyperfine(runs, full, env)
    for name, _, _ in full:
        print(f"  {name:18} {fmt(results[name])}")
        print(slowest_nodes(dbt.target(name)))
    add_new_day()
    results |= hyperfine(runs, incremental, env)
    for name, _, _ in incremental:
        print(f"  {name:18} {fmt(results[name])}")
        if name != "floor again":
            print(slowest_nodes(dbt.target(name)))
    print(f"timed in {time.monotonic() - started:.0f} s", flush=True)
    return {"counts": counts, "results": results}


def bench_parse(work: Path, env: dict[str, str], runs: int) -> dict:
    """What a changed --vars costs (a full re-parse), and dbt start-up without cached bytecode."""
    print("\n=== parsing and start-up (no data involved) ===", flush=True)
    dbt = Dbt(work / "parse", json.dumps({"min_date": "2026-01-01", "max_date": "2026-01-01"}))
    no_pyc = work / "no-pyc"
    no_pyc.mkdir(parents=True, exist_ok=True)
    commands = [
        ("parse (partial)", "", dbt.command("partial", "parse")),
        ("parse --no-partial-parse", "", dbt.command("full", "parse --no-partial-parse")),
        # what every dbt start costs where Python may not write bytecode (this sandbox sets
        # PYTHONDONTWRITEBYTECODE=1 and the venv has no .pyc): dbt is compiled on every start
        (
            "parse (partial), no .pyc",
            "",
            "env PYTHONDONTWRITEBYTECODE=1 PYTHONPYCACHEPREFIX="
            + shlex.quote(str(no_pyc))
            + " "
            + dbt.command("partial", "parse"),
        ),
    ]
    warm(dbt, commands[:1], env)
    results = hyperfine(runs, commands, env)
    for name, _, _ in commands:
        print(f"  {name:26} {fmt(results[name])}")
    return results


def report(sizes: dict[int, dict], parse: dict) -> None:
    print("\n=== summary: mean s; ratio to the full build of the same size; the share of the full")
    print("build's work above the floor (dbt start-up + parse) that a command does above it ===")
    for n, size in sizes.items():
        r = {k: v["mean"] for k, v in size["results"].items()}
        floor = (r["floor"] + r["floor again"]) / 2
        full = r["full build"]
        c = size["counts"]
        print(f"{n:,} leads, {c['events']:,} events; the new day: {c['new_leads']:,} leads, "
              f"{c['new_events']:,} events; floor {floor:.2f} s (mean of both batches)")  # fmt: skip
        for name in ("floor", "floor again", "full build", "full run", "incr build daily",
                     "incr run daily", "incr build all"):  # fmt: skip
            line = f"  {name:18} {fmt(size['results'][name])}"
            if not name.startswith("floor"):
                above = (r[name] - floor) / (full - floor)
                line += f"   {r[name] / full:6.3f} of full   {above:6.3f} of full above floor"
            print(line)
    if parse:
        p = {k: v["mean"] for k, v in parse.items()}
        reparse = p["parse --no-partial-parse"] - p["parse (partial)"]
        no_pyc = p["parse (partial), no .pyc"] - p["parse (partial)"]
        print(f"a full re-parse (every daily run: its --vars change) costs +{reparse:.2f} s; "
              f"starting dbt without cached bytecode +{no_pyc:.2f} s")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3, help="hyperfine runs up to 100k leads")
    parser.add_argument("--large-runs", type=int, default=1, help="hyperfine runs above 100k")
    parser.add_argument("--data", type=Path, help="keep/reuse the book and the pipeline output")
    parser.add_argument("--split-junk-keys", action="store_true",
                        help="junk contact keys become a new value per copy, like real ones")  # fmt: skip
    parser.add_argument("--skip-parse", action="store_true", help="no parse/start-up timings")
    parser.add_argument("--keep-db", action="store_true", help=f"leave {DB} for inspection")
    args = parser.parse_args()
    require("hyperfine", "psql")
    print("machine:", machine(), flush=True)
    started = time.monotonic()

    work = Path(tempfile.mkdtemp(prefix="hk-bench-dbt-"))
    data = args.data or work / "data"
    data.mkdir(parents=True, exist_ok=True)
    env = bench_env(
        HK_DATABASE_URL=URL,
        HK_HOME=str(work / "home"),  # the pipeline's lake and Dagster home, thrown away after
        DBT_LOG_PATH=str(work / "logs"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        # as the Dagster daily asset runs it: a test runs with the selection that builds all of
        # its parents (the relationships tests of the unpartitioned models stay out of tag:daily)
        DBT_INDIRECT_SELECTION="buildable",
        # cached bytecode, as on any machine where Python may write it (outside the repo)
        PYTHONPYCACHEPREFIX=str(work / "pycache"),
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        fresh_database(DB)
        run_hk(["db", "upgrade"], env)
        base_started = time.monotonic()
        load_base(data, env, args.split_junk_keys)
        new_day = date.fromisoformat(db("select max(received_date) from bench.base_leads"))
        first_day = db("select min(received_date) from bench.base_leads")
        print(f"base book: {db('select count(*) from bench.base_leads')} leads, "
              f"{db('select count(*) from bench.base_events')} events, {first_day} .. {new_day} "
              f"(loaded in {time.monotonic() - base_started:.0f} s); new day = {new_day}", flush=True)  # fmt: skip
        parse = {} if args.skip_parse else bench_parse(work, env, args.runs)
        sizes = {}
        for n in args.sizes:
            runs = args.runs if n <= 100_000 else args.large_runs
            sizes[n] = bench_size(n, runs, new_day, work, env)
        print("\nmachine:", machine())
        report(sizes, parse)
        print(f"whole benchmark: {time.monotonic() - started:.0f} s")
    finally:
        if not args.keep_db:
            drop_database(DB)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
