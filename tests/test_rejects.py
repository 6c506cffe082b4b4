"""Rejects: each refused row comes back as it was sent, with its row, line and every reason,
so it can be fixed in a spreadsheet (or an editor) and imported again as it is."""

from __future__ import annotations

import csv
import io

import orjson

from hk_core.intake import import_leads, import_stage_events
from hk_core.intake.rejects import REJECT_COLUMNS, write_rejects_csv, write_rejects_ndjson
from hk_core.pii import PiiHasher

CSV_BODY = (
    "External ID,Source,Email,Phone,Property Street,Property Zip,Bedrooms,Asking Price,Notes\n"
    "R-1,web,r1@example.com,,1 Oak St,78701,3,$200k,fine\n"
    'R-2,web,,,"2 Oak St\nUnit 4",78701,many,1.000,"two lines,\nand a comma"\n'
    "R-3,web,r3@example.com,,3 Oak St,１２３,2,,N/A\n"
)


def _post(client, body: bytes, content_type: str):
    return client.post("/v1/leads/bulk", content=body, headers={"content-type": content_type})


def test_bulk_csv_response_carries_each_refused_row_as_sent(client, db):
    result = _post(client, CSV_BODY.encode(), "text/csv").json()
    assert (result["accepted"], result["rejected"]) == (1, 2)
    by_row = {r["row"]: r for r in result["rejects"]}
    second = by_row[2]
    assert second["line"] == 3
    assert second["record"] == {
        "External ID": "R-2", "Source": "web", "Email": "", "Phone": "",
        "Property Street": "2 Oak St\nUnit 4", "Property Zip": "78701", "Bedrooms": "many",
        "Asking Price": "1.000", "Notes": "two lines,\nand a comma",
    }  # fmt: skip
    # Every field's reason, not only the first one (whole-row rules such as "no contact" are
    # judged once the fields are valid).
    assert {r["field"] for r in second["reasons"]} == {"bedrooms", "asking_price"}
    third = by_row[3]
    assert third["line"] == 6 and third["record"]["Property Zip"] == "１２３"
    assert [r["field"] for r in third["reasons"]] == ["property_zip"]


def test_bulk_ndjson_response_carries_objects_and_unreadable_lines(client, db):
    good = {"source": "v", "external_id": "N1", "email": "n1@example.com",
            "property_street": "1 A St", "property_zip": "10001"}  # fmt: skip
    bad = {**good, "external_id": "N2", "property_zip": "ABCDE", "bathrooms": "lots"}
    body = orjson.dumps(good) + b"\n" + orjson.dumps(bad) + b"\n[1, 2]\n{broken\n"
    result = _post(client, body, "application/x-ndjson").json()
    assert (result["accepted"], result["rejected"]) == (1, 3)
    rejects = {r["row"]: r for r in result["rejects"]}
    assert rejects[2]["record"] == bad and rejects[2]["original_line"] is None
    assert {r["field"] for r in rejects[2]["reasons"]} == {"property_zip", "bathrooms"}
    assert rejects[3]["record"] is None and rejects[3]["original_line"] == "[1, 2]"
    assert rejects[4]["original_line"] == "{broken"


def test_csv_rejects_file_is_the_input_with_reasons_and_imports_again(db, tmp_path):
    result = import_leads(db, io.BytesIO(CSV_BODY.encode()), "csv", PiiHasher("k"))
    path = tmp_path / "leads.csv.rejects.csv"
    write_rejects_csv(path, result.rejects)
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == [*next(csv.reader(io.StringIO(CSV_BODY))), *REJECT_COLUMNS]
    assert rows[1][:9] == list(csv.reader(io.StringIO(CSV_BODY)))[2]
    assert rows[1][9:11] == ["2", "3"]
    assert "bedrooms:" in rows[1][11] and "asking_price:" in rows[1][11]
    # Fixed in a spreadsheet: the person corrects the cells, the file goes back in as it is.
    fixed = path.read_text(encoding="utf-8").replace(",many,1.000,", ",4,1000,")
    fixed = fixed.replace("１２３", "78702")
    assert import_leads(db, io.BytesIO(fixed.encode()), "csv", PiiHasher("k")).stored == 1
    fixed = fixed.replace("R-2,web,,", "R-2,web,r2@example.com,")
    again = import_leads(db, io.BytesIO(fixed.encode()), "csv", PiiHasher("k"))
    assert (again.rows, again.rejected, again.stored) == (2, 0, 1)
    notes = db.execute("select notes from app.leads where external_id = 'R-3'").fetchone()[0]
    assert notes == "N/A"  # notes keep their text even in a CSV cell


def test_ndjson_rejects_file_imports_again(db, tmp_path):
    bad = {"source": "v", "external_id": "N9", "email": "n9@example.com",
           "property_street": "9 A St", "property_zip": "1000١"}  # fmt: skip
    result = import_leads(db, io.BytesIO(orjson.dumps(bad) + b"\n"), "ndjson", PiiHasher("k"))
    path = tmp_path / "leads.ndjson.rejects.ndjson"
    write_rejects_ndjson(path, result.rejects)
    line = orjson.loads(path.read_bytes())
    assert {k: line[k] for k in bad} == bad
    assert (line["reject_row"], line["reject_line"]) == (1, 1)
    assert line["reject_reasons"][0].startswith("property_zip: digits other than 0-9")
    line["property_zip"] = "10001"
    again = import_leads(db, io.BytesIO(orjson.dumps(line) + b"\n"), "ndjson", PiiHasher("k"))
    assert (again.rejected, again.stored) == (0, 1)


def test_rows_refused_by_the_database_keep_what_was_sent(db):
    events = "source,external_id,stage,occurred_at\nweb,NOPE,new,2025-01-02\n"
    result = import_stage_events(db, io.BytesIO(events.encode()), "csv")
    [reject] = result.rejects
    assert reject.record() == {"source": "web", "external_id": "NOPE", "stage": "new",
                               "occurred_at": "2025-01-02"}  # fmt: skip
    assert reject.reasons() == "lead_id: no such lead"


def test_two_headers_folding_to_one_name_keep_both_values(db):
    body = "Email,email,property_street,property_zip\na@example.com,,1 Oak St,ABC\n"
    result = import_leads(db, io.BytesIO(body.encode()), "csv", PiiHasher("k"))
    [reject] = result.rejects
    assert reject.sent == ["a@example.com", "", "1 Oak St", "ABC"]
    assert reject.header == ["Email", "email", "property_street", "property_zip"]
