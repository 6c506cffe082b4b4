"""The Parquet lake, the same tests on a local folder and on S3 (moto on loopback)."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import TcpProxy, without_permission_override
from lake_fixtures import make_bucket
from typer.testing import CliRunner

from hk_cli.lake import lake_app
from hk_core.lake import Lake, LakeWriteError
from hk_core.lakesql import query
from hk_core.settings import get_settings

JAN_2 = date(2025, 1, 2)
JAN_3 = date(2025, 1, 3)
JAN_4 = date(2025, 1, 4)

LEAD_SCHEMA = pa.schema(
    [
        ("lead_id", pa.int64()),
        ("equity_ratio", pa.float64()),
        ("seller_name", pa.string()),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("received_date", pa.date32()),
        ("asking_price", pa.decimal128(12, 2)),
        ("is_absentee_owner", pa.bool_()),
    ]
)


def leads(*ids: int) -> pa.Table:
    return pa.table(
        {
            "lead_id": list(ids),
            "equity_ratio": [i / 10 for i in ids],
            "seller_name": [f"Seller {i} 🏠" for i in ids],
            "received_at": [datetime(2025, 1, 2, 8, i % 60, tzinfo=UTC) for i in ids],
            "received_date": [JAN_2 for _ in ids],
            "asking_price": [Decimal(f"{i}00000.50") for i in ids],
            "is_absentee_owner": [i % 2 == 0 for i in ids],
        },
        schema=LEAD_SCHEMA,
    )


def visible_files(lake: Lake, day: date) -> list[str]:
    """What a reader listing the partition folder sees (hidden temp files excluded)."""
    try:
        names = [
            p.rstrip("/").rsplit("/", 1)[-1]
            for p in lake.filesystem.ls(lake.partition_dir("raw", "leads", day))
        ]
    except FileNotFoundError:
        return []
    return sorted(n for n in names if not n.startswith("."))


def all_files(lake: Lake, day: date) -> list[str]:
    try:
        names = [
            p.rstrip("/").rsplit("/", 1)[-1]
            for p in lake.filesystem.ls(lake.partition_dir("raw", "leads", day))
        ]
    except FileNotFoundError:
        return []
    return sorted(names)


def test_round_trip_keeps_types_values_and_nulls(lake: Lake):
    table = pa.table(
        {
            "lead_id": pa.array([1, None], pa.int64()),
            "equity_ratio": pa.array([0.25, None], pa.float64()),
            "seller_name": pa.array(['Zoë O\'Neil 🏡, "quoted"', None], pa.string()),
            "received_at": pa.array(
                [datetime(2025, 1, 2, 23, 59, 59, 123456, tzinfo=UTC), None],
                pa.timestamp("us", tz="UTC"),
            ),
            "received_date": pa.array([JAN_2, None], pa.date32()),
            "asking_price": pa.array([Decimal("249999.99"), None], pa.decimal128(12, 2)),
            "is_absentee_owner": pa.array([True, None], pa.bool_()),
        },
        schema=LEAD_SCHEMA,
    )
    written = lake.write_partition("raw", "leads", JAN_2, table)

    assert written.rows == 2 and written.bytes > 0
    assert written.path == f"{lake.partition_dir('raw', 'leads', JAN_2)}/part-00000.parquet"
    assert lake.filesystem.exists(written.path)
    back = lake.read_partition("raw", "leads", JAN_2)
    assert back is not None
    assert back.schema.equals(LEAD_SCHEMA)
    assert back.to_pylist() == table.to_pylist()
    assert back.column("received_at").type.tz == "UTC"


def test_rewrite_replaces_the_day_and_leaves_no_duplicates(lake: Lake):
    lake.write_partition("raw", "leads", JAN_2, leads(1, 2, 3))
    # A part file from an earlier writer that split the day in two must not survive a rewrite.
    stray = f"{lake.partition_dir('raw', 'leads', JAN_2)}/part-00001.parquet"
    with lake.filesystem.open(stray, "wb") as sink:
        pq.write_table(leads(99), sink)
    assert lake.read_partition("raw", "leads", JAN_2).num_rows == 4

    lake.write_partition("raw", "leads", JAN_2, leads(4, 5))
    lake.write_partition("raw", "leads", JAN_2, leads(4, 5))

    assert lake.read_partition("raw", "leads", JAN_2).column("lead_id").to_pylist() == [4, 5]
    assert all_files(lake, JAN_2) == ["part-00000.parquet"]
    assert query(lake, "select count(*) as n from raw_leads").column("n").to_pylist() == [2]


def test_a_table_parquet_cannot_hold_leaves_the_old_day_intact(lake: Lake):
    lake.write_partition("raw", "leads", JAN_2, leads(1, 2))
    unwritable = pa.table(
        {"wait": pa.array([pa.MonthDayNano([1, 2, 3])], pa.month_day_nano_interval())}
    )

    with pytest.raises(pa.ArrowNotImplementedError):
        lake.write_partition("raw", "leads", JAN_2, unwritable)
    with pytest.raises(pa.ArrowNotImplementedError):
        lake.write_partition("raw", "leads", JAN_3, unwritable)

    assert lake.read_partition("raw", "leads", JAN_2).column("lead_id").to_pylist() == [1, 2]
    assert lake.partitions("raw", "leads") == [JAN_2]
    assert all_files(lake, JAN_2) == ["part-00000.parquet"]
    assert lake.read_partition("raw", "leads", JAN_3) is None


def test_a_writer_dying_mid_file_leaves_the_old_day_intact(lake: Lake, monkeypatch):
    lake.write_partition("raw", "leads", JAN_2, leads(1, 2))
    real_write_table = pq.write_table

    def dies_half_way(table, sink, **kwargs):
        buffer = pa.BufferOutputStream()
        real_write_table(table, buffer, **kwargs)
        data = buffer.getvalue().to_pybytes()
        sink.write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", dies_half_way)
    with pytest.raises(OSError, match="disk full"):
        lake.write_partition("raw", "leads", JAN_2, leads(7, 8, 9))
    with pytest.raises(OSError, match="disk full"):
        lake.write_partition("raw", "leads", JAN_3, leads(7))
    monkeypatch.undo()

    assert lake.read_partition("raw", "leads", JAN_2).column("lead_id").to_pylist() == [1, 2]
    assert lake.partitions("raw", "leads") == [JAN_2]
    assert all_files(lake, JAN_2) == ["part-00000.parquet"]  # the temp file was cleaned up
    assert visible_files(lake, JAN_3) == []
    assert query(lake, "select lead_id from raw_leads order by 1").column(0).to_pylist() == [1, 2]


def test_a_read_only_partition_folder_is_a_clear_error_and_the_day_stays(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    lake.write_partition("raw", "leads", JAN_2, leads(1, 2))
    day_folder = lake.partition_dir("raw", "leads", JAN_2)
    dataset_folder = os.path.dirname(day_folder)
    for folder in (day_folder, dataset_folder):
        os.chmod(folder, 0o555)
    try:
        for day, table in ((JAN_2, leads(7, 8, 9)), (JAN_3, leads(7))):  # rewrite, new day
            with pytest.raises(LakeWriteError) as refused:
                without_permission_override(
                    lambda day=day, table=table: lake.write_partition("raw", "leads", day, table)
                )
            message = str(refused.value)
            assert f"raw/leads dt={day.isoformat()}" in message and "PermissionError" in message
    finally:
        for folder in (day_folder, dataset_folder):
            os.chmod(folder, 0o755)
    assert lake.read_partition("raw", "leads", JAN_2).column("lead_id").to_pylist() == [1, 2]
    assert all_files(lake, JAN_2) == ["part-00000.parquet"]
    assert lake.partitions("raw", "leads") == [JAN_2]
    assert query(lake, "select lead_id from raw_leads order by 1").column(0).to_pylist() == [1, 2]


def test_s3_gone_in_the_middle_of_a_put_leaves_the_old_day_whole(moto_s3):
    """The S3 endpoint vanishes part-way through the upload's body: a clear error, the day's
    old object intact, nothing new visible; once S3 is back the write goes through."""
    endpoint = urlsplit(moto_s3)
    proxy = TcpProxy(endpoint.hostname or "127.0.0.1", endpoint.port or 80).start()
    bucket = make_bucket(moto_s3)
    try:
        through_proxy = Lake(
            f"s3://{bucket}/lake", s3_endpoint_url=f"http://127.0.0.1:{proxy.port}"
        )
        direct = Lake(f"s3://{bucket}/lake", s3_endpoint_url=moto_s3)
        through_proxy.write_partition("raw", "leads", JAN_2, leads(1, 2))
        big_day = leads(*range(10, 20_010))
        proxy.cut_after_next(64 * 1024)  # well inside the new file's PUT
        with pytest.raises(LakeWriteError, match="raw/leads dt=2025-01-02") as refused:
            through_proxy.write_partition("raw", "leads", JAN_2, big_day)
        assert "S3 PUT failed" in str(refused.value)
        proxy.cut_after = None

        assert direct.read_partition("raw", "leads", JAN_2).column("lead_id").to_pylist() == [1, 2]
        assert all_files(direct, JAN_2) == ["part-00000.parquet"]
        assert direct.partitions("raw", "leads") == [JAN_2]
        proxy.start()
        through_proxy.write_partition("raw", "leads", JAN_2, big_day)
        assert direct.read_partition("raw", "leads", JAN_2).num_rows == 20_000
    finally:
        proxy.close()


def test_a_crashed_writers_temp_file_is_invisible_and_swept_later(lake: Lake):
    lake.write_partition("raw", "leads", JAN_2, leads(1))
    folder = lake.partition_dir("raw", "leads", JAN_2)
    # What kill -9 between "temp written" and "rename" leaves behind: a half file.
    never_committed = lake.partition_dir("raw", "leads", JAN_3)
    lake.filesystem.makedirs(never_committed, exist_ok=True)  # S3: a no-op
    lake.filesystem.pipe_file(f"{folder}/.tmp-deadbeef.parquet", b"PAR1 half a file")
    lake.filesystem.pipe_file(f"{never_committed}/.tmp-0.parquet", b"x")

    assert lake.partitions("raw", "leads") == [JAN_2]
    assert lake.read_days("raw", "leads").column("lead_id").to_pylist() == [1]
    assert query(lake, "select count(*) from raw_leads").column(0).to_pylist() == [1]

    if lake.is_local:  # S3 has no temp objects to sweep, and moto's clock cannot be moved
        stale = time.time() - 2 * 3600
        os.utime(f"{folder}/.tmp-deadbeef.parquet", (stale, stale))
        lake.write_partition("raw", "leads", JAN_2, leads(2))
        assert all_files(lake, JAN_2) == ["part-00000.parquet"]


def test_partitions_datasets_and_delete(lake: Lake):
    assert lake.partitions("raw", "leads") == []
    assert lake.datasets() == []
    for day in (JAN_4, JAN_2, JAN_3):
        lake.write_partition("raw", "leads", day, leads(day.day))
    lake.write_partition("enriched", "leads", JAN_2, leads(1))

    assert lake.partitions("raw", "leads") == [JAN_2, JAN_3, JAN_4]
    assert lake.datasets() == [("enriched", "leads"), ("raw", "leads")]
    summary = lake.describe("raw", "leads")
    assert (summary.rows, summary.partitions, summary.view) == (
        3,
        [JAN_2, JAN_3, JAN_4],
        "raw_leads",
    )

    lake.delete_partition("raw", "leads", JAN_3)
    lake.delete_partition("raw", "leads", JAN_3)  # deleting an absent day is not an error
    assert lake.partitions("raw", "leads") == [JAN_2, JAN_4]
    assert lake.read_partition("raw", "leads", JAN_3) is None


def test_read_days_adds_dt_and_skips_days_never_written(lake: Lake):
    lake.write_partition("raw", "leads", JAN_2, leads(1, 2))
    # A column added on a later day reads as null on earlier days.
    lake.write_partition(
        "raw", "leads", JAN_3, leads(3).append_column("source", pa.array(["web_form"]))
    )

    every_day = lake.read_days("raw", "leads")
    assert every_day is not None
    assert every_day.select(["lead_id", "dt", "source"]).to_pylist() == [
        {"lead_id": 1, "dt": JAN_2, "source": None},
        {"lead_id": 2, "dt": JAN_2, "source": None},
        {"lead_id": 3, "dt": JAN_3, "source": "web_form"},
    ]
    assert every_day.schema.field("dt").type == pa.date32()
    some = lake.read_days("raw", "leads", [JAN_3, JAN_4])
    assert some is not None and some.column("lead_id").to_pylist() == [3]
    assert lake.read_days("raw", "leads", [JAN_4]) is None
    assert lake.read_days("raw", "events") is None


def test_an_empty_day_is_a_partition_with_a_schema(lake: Lake):
    written = lake.write_partition("raw", "leads", JAN_2, LEAD_SCHEMA.empty_table())

    assert written.rows == 0
    assert lake.partitions("raw", "leads") == [JAN_2]  # "no leads that day", not "not run"
    empty = lake.read_partition("raw", "leads", JAN_2)
    assert empty is not None and empty.num_rows == 0 and empty.schema.equals(LEAD_SCHEMA)
    assert lake.read_partition("raw", "leads", JAN_3) is None
    result = query(lake, "select count(*) as n, max(asking_price) as top from raw_leads")
    assert result.to_pylist() == [{"n": 0, "top": None}]


def test_names_and_days_cannot_escape_the_lake(lake: Lake):
    for zone, dataset in [
        ("..", "leads"),
        ("raw", "../etc"),
        ("Raw", "leads"),
        ("raw", "a/b"),
        ("", "x"),
    ]:
        with pytest.raises(ValueError, match="lowercase identifier"):
            lake.write_partition(zone, dataset, JAN_2, leads(1))
    with pytest.raises(TypeError):
        lake.partition_dir("raw", "leads", datetime(2025, 1, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="'dt' column"):
        lake.write_partition("raw", "leads", JAN_2, pa.table({"dt": [JAN_2]}))
    assert lake.datasets() == []


def test_sql_joins_two_datasets_with_a_dt_filter(lake: Lake):
    lake.write_partition("raw", "leads", JAN_2, leads(1, 2))
    lake.write_partition("raw", "leads", JAN_3, leads(3))
    for day, ids in ((JAN_2, [1, 2]), (JAN_3, [3])):
        enriched = pa.table(
            {
                "lead_id": ids,
                "owner_of_record": [f"Owner {i}" for i in ids],
                "is_vacant": [i == 2 for i in ids],
            }
        )
        lake.write_partition("enriched", "leads", day, enriched)

    result = query(
        lake,
        """
        select r.lead_id, r.seller_name, e.owner_of_record, r.dt
        from raw_leads as r
        join enriched_leads as e on e.lead_id = r.lead_id and e.dt = r.dt
        where r.dt = date '2025-01-02' and not e.is_vacant
        order by r.lead_id
        """,
    )

    assert result.to_pylist() == [
        {"lead_id": 1, "seller_name": "Seller 1 🏠", "owner_of_record": "Owner 1", "dt": JAN_2}
    ]
    assert result.schema.field("dt").type == pa.date32()


def test_hk_lake_sql_and_ls_on_a_local_lake(tmp_path, monkeypatch):
    lake = Lake(str(tmp_path / "lake"))
    lake.write_partition("raw", "leads", JAN_2, leads(1, 2))
    lake.write_partition("raw", "leads", JAN_3, leads(3))
    monkeypatch.setenv("HK_LAKE_URL", f"file://{tmp_path / 'lake'}")
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        as_csv = runner.invoke(
            lake_app, ["sql", "select lead_id, seller_name, dt from raw_leads order by 1", "--csv"]
        )
        as_table = runner.invoke(
            lake_app, ["sql", "select sum(asking_price) as total from raw_leads"]
        )
        listing = runner.invoke(lake_app, ["ls"])
        unknown = runner.invoke(lake_app, ["sql", "select * from raw_nothing"])
    finally:
        get_settings.cache_clear()

    assert as_csv.exit_code == 0, as_csv.output
    assert as_csv.output.splitlines() == [
        '"lead_id","seller_name","dt"',
        '1,"Seller 1 🏠",2025-01-02',
        '2,"Seller 2 🏠",2025-01-02',
        '3,"Seller 3 🏠",2025-01-03',
    ]
    assert as_table.exit_code == 0, as_table.output
    assert "600001.50" in as_table.output and "1 rows" in as_table.output
    assert listing.exit_code == 0, listing.output
    assert "raw_leads" in listing.output and "2025-01-03" in listing.output
    assert unknown.exit_code == 1
    assert "raw_nothing" in unknown.output and "raw_leads" in unknown.output
