"""ml.pgcopy: Postgres's binary COPY decoded into Arrow, against a real server.

Every value kind the platform reads (bigint, integer, double precision, boolean, text,
timestamptz, date), with nulls, edge values and several blocks, must come back as what
ADBC's driver and the CSV path read; a row that does not fit the schema is an error that
names the row and the column.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

import psycopg
import pyarrow as pa
import pytest

import ml.pgcopy
from ml.data import _typed_select, read_arrow, read_arrow_adbc, read_arrow_csv
from ml.pgcopy import BlockDecoder, CopyDecodeError, copy_batches

SCHEMA = "pgcopy_test"
UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
LAYOUT = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("small", pa.int32()),
        pa.field("x", pa.float64()),
        pa.field("flag", pa.bool_()),
        pa.field("name", pa.string()),
        pa.field("at", UTC_TIMESTAMP),
        pa.field("day", pa.date32()),
    ]
)
ROWS = """
    (1, 0, 0.0, true, 'plain', '2000-01-01 00:00:00+00', '2000-01-01'),
    (2, -1, -1.5, false, '', '1999-12-31 23:59:59.999999+00', '1999-12-31'),
    (3, 2147483647, 1e300, null, 'Müller – 東京 🏠', '1970-01-01 00:00:00+00', '1970-01-01'),
    (4, -2147483648, 'NaN', true, null, '2026-11-25 13:45:10.123456-05', '2026-11-25'),
    (5, null, null, null, null, null, null),
    (-9223372036854775808, 7, 'Infinity', false, 'x', '1900-03-01 12:00:00+00', '1900-03-01'),
    (9223372036854775807, 8, '-Infinity', true, repeat('long ', 2000),
     '2262-04-11 00:00:00+00', '4000-01-01'),
    (8, 9, -0.0, false, 'tab	and "quotes", commas', '2001-02-03 04:05:06+00', '2001-02-03')
"""


@pytest.fixture(scope="module")
def values_db(database_url: str) -> Iterator[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"drop schema if exists {SCHEMA} cascade")
        conn.execute(f"create schema {SCHEMA}")
        conn.execute(
            f"create table {SCHEMA}.kinds (id bigint not null, small integer, x double precision,"
            " flag boolean, name text, at timestamptz, day date)"
        )
        conn.execute(f"insert into {SCHEMA}.kinds values {ROWS}")
        conn.execute(
            f"create table {SCHEMA}.many as select g::bigint as id, (g % 1000)::integer as small,"
            " case when g % 7 = 0 then null else g * 0.25 end as x, g % 3 = 0 as flag,"
            " case when g % 5 = 0 then null else 'lead-' || g end as name,"
            " timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second' as at,"
            " date '2026-01-01' + (g % 400) as day from generate_series(1, 5000) as g"
        )
    yield database_url
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"drop schema if exists {SCHEMA} cascade")


def test_every_kind_matches_adbc_and_csv(values_db: str) -> None:
    source = f"select * from {SCHEMA}.kinds order by id"
    table = read_arrow(values_db, source, LAYOUT)
    assert table.schema == LAYOUT
    for reference in (read_arrow_adbc, read_arrow_csv):
        expected = reference(values_db, source, LAYOUT)
        for name in LAYOUT.names:
            if name == "x" and reference is read_arrow_csv:
                continue  # pyarrow.csv reads Postgres's NaN as null
            # NaN is not equal to itself: compare the floats' text.
            got, want = table[name], expected[name]
            if name == "x":
                got, want = got.cast(pa.string()), want.cast(pa.string())
            assert got.equals(want), (reference.__name__, name, got, want)
    rows = {row["id"]: row for row in table.to_pylist()}
    assert rows[3]["name"] == "Müller – 東京 🏠"
    assert rows[3]["x"] == 1e300 and rows[3]["flag"] is None
    assert rows[2]["name"] == "" and rows[4]["name"] is None
    assert math.isnan(rows[4]["x"]) and rows[-9223372036854775808]["x"] == math.inf
    assert rows[4]["small"] == -2147483648 and rows[3]["small"] == 2147483647
    assert rows[4]["at"].isoformat() == "2026-11-25T18:45:10.123456+00:00"
    assert rows[2]["at"].isoformat() == "1999-12-31T23:59:59.999999+00:00"
    assert rows[-9223372036854775808]["day"].isoformat() == "1900-03-01"
    assert all(value is None for key, value in rows[5].items() if key != "id")
    assert rows[9223372036854775807]["name"] == "long " * 2000


def test_many_blocks_in_order(values_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ml.pgcopy, "BLOCK_ROWS", 333)
    source = f"select * from {SCHEMA}.many order by id"
    with copy_batches(values_db, _typed_select(source, LAYOUT), LAYOUT) as batches:
        sizes = [batch.num_rows for batch in batches]
    assert sizes == [333] * 15 + [5]
    table = read_arrow(values_db, source, LAYOUT)
    assert table.equals(read_arrow_adbc(values_db, source, LAYOUT))  # no NaN here
    assert table["id"].to_pylist() == list(range(1, 5001))


def test_empty_result(values_db: str) -> None:
    empty = read_arrow(values_db, f"select * from {SCHEMA}.kinds where false", LAYOUT)
    assert empty.num_rows == 0 and empty.schema == LAYOUT


def test_a_mismatched_column_names_row_and_column(values_db: str) -> None:
    # The query sends an integer where the schema says bigint: a width error, not a shift.
    query = f"select id, small, x, flag, name, at, small as day_wrong from {SCHEMA}.kinds"
    wrong = pa.schema([*LAYOUT][:6] + [pa.field("day_wrong", pa.int64())])
    with (
        pytest.raises(CopyDecodeError, match=r"row 1, column 'day_wrong'.*width"),
        copy_batches(values_db, query, wrong) as batches,
    ):
        list(batches)
    # One column fewer than the schema has.
    with (
        pytest.raises(CopyDecodeError, match=r"row 1: .*number of fields"),
        copy_batches(values_db, f"select id from {SCHEMA}.kinds", LAYOUT) as batches,
    ):
        list(batches)


def test_null_in_a_required_column_and_infinity(values_db: str) -> None:
    query = f"select * from {SCHEMA}.kinds order by id"  # id 5, sixth, has no small
    required = pa.schema([pa.field("small", pa.int32(), nullable=False)])
    with (
        pytest.raises(CopyDecodeError, match=r"row 6, column 'small': null"),
        copy_batches(values_db, f"select small from ({query}) as q", required) as batches,
    ):
        list(batches)
    at = pa.schema([pa.field("at", UTC_TIMESTAMP)])
    with pytest.raises(CopyDecodeError, match=r"row 2, column 'at': infinity"):
        read_arrow(values_db, "select * from (values (timestamptz '2020-01-01'),"
                   " (timestamptz 'infinity')) as v (at)", at)  # fmt: skip


def test_a_bad_query_raises_in_the_consumer(values_db: str) -> None:
    with pytest.raises(Exception, match="no_such_table"):
        read_arrow(values_db, f"select * from {SCHEMA}.no_such_table", LAYOUT)


def test_leaving_early_stops_the_copy(values_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ml.pgcopy, "BLOCK_ROWS", 10)
    source = f"select * from {SCHEMA}.many"
    with copy_batches(values_db, _typed_select(source, LAYOUT), LAYOUT) as batches:
        first = next(iter(batches))
    assert first.num_rows == 10
    assert not [t for t in threading.enumerate() if t.name == "copy-batches"]
    # The copying connection is closed, so its server process ends (once it notices).
    deadline = time.monotonic() + 30
    while True:
        with psycopg.connect(values_db) as conn:
            (copying,) = conn.execute(
                "select count(*) from pg_stat_activity where query like 'copy (select%%many%%'"
                " and pid <> pg_backend_pid()"
            ).fetchone()  # type: ignore[misc]
        if copying == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert copying == 0


def test_decoder_rejects_a_truncated_block() -> None:
    decoder = BlockDecoder(pa.schema([pa.field("id", pa.int64())]))
    row = (1).to_bytes(2, "big") + (8).to_bytes(4, "big") + (42).to_bytes(8, "big")
    assert decoder.decode(row + row).column(0).to_pylist() == [42, 42]
    with pytest.raises(CopyDecodeError, match=r"row 2, column 'id': the row ends early"):
        decoder.decode(row + row[:-3])
    with pytest.raises(TypeError, match="no Arrow type"):
        BlockDecoder(pa.schema([pa.field("d", pa.decimal128(10, 2))]))
