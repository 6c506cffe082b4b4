"""Bulk intake: the HTTP endpoint and the CLI share the contract and the COPY path."""

from __future__ import annotations

import io

import orjson

from hk_core.intake import import_leads
from hk_core.pii import PiiHasher

CSV = (
    "External ID,Source,Received At,First Name,Last Name,Email,Phone,Property Street,"
    "Property City,Property State,Property Zip,Bedrooms,Asking Price\n"
    "A-1,Web Form,2025-01-02,Ann,Lee,ann@example.com,(512) 555-0101,1 Oak St,Austin,TX,78701,3,$200k\n"
    "A-2,Web Form,2025-01-02,Bob,Ray,,,2 Oak St,Austin,TX,78701,3,\n"
    'A-3,Web Form,2025-01-03,"Cy, Jr.",Day,cy@example.com,,"3 Oak St\nUnit 4",Austin,TX,78701,many,\n'
    "A-4,Web Form,not-a-date,Di,Fox,di@example.com,,4 Oak St,Austin,TX,78701,2,\n"
    "A-5,PPC,2025-01-04,Ed,Gu,,512.555.0105,5 Oak St,Austin,TX,7870,,1.2M\n"
)


def _post_csv(client, body: bytes, **params):
    return client.post(
        "/v1/leads/bulk", content=body, headers={"content-type": "text/csv"}, params=params
    )


def test_bulk_csv_keeps_good_rows_and_names_bad_ones(client, db):
    response = _post_csv(client, CSV.encode())
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["rows"], result["accepted"], result["rejected"], result["stored"]) == (
        5,
        2,
        3,
        2,
    )
    errors = {(e["row"], e["field"]) for e in result["errors"]}
    assert errors == {(2, "email"), (3, "bedrooms"), (4, "received_at")}
    lines = {e["row"]: e["line"] for e in result["errors"]}
    assert lines[4] == 6  # the quoted newline in row 3 makes row 4 start on line 6
    stored = db.execute(
        "select external_id, property_zip, asking_price from app.leads order by 1"
    ).fetchall()
    assert [(r[0], r[1], int(r[2])) for r in stored] == [
        ("A-1", "78701", 200000),
        ("A-5", "07870", 1200000),
    ]


def test_bulk_reimport_is_idempotent(client, db):
    first = _post_csv(client, CSV.encode()).json()
    again = _post_csv(client, CSV.encode()).json()
    assert first["stored"] == 2 and again["stored"] == 0 and again["duplicates"] == 2
    assert db.execute("select count(*) from app.leads").fetchone()[0] == 2


def test_bulk_keeps_the_same_external_id_from_two_sources_apart(client, db):
    """Two vendors' lead 1 are two sellers, in one file and against a lead the API took."""
    api = client.post("/v1/leads", json={
        "source": "vendor_a", "external_id": "1", "email": "ann@example.com",
        "property_street": "1 Oak St", "property_zip": "78701",
    })  # fmt: skip
    assert api.status_code == 201, api.text
    body = (
        "external_id,source,email,property_street,property_zip\n"
        "1,vendor_a,ann@example.com,1 Oak St,78701\n"
        "1,vendor_b,bob@example.com,2 Elm St,78702\n"
        "1,vendor_c,cy@example.com,3 Ash St,78703\n"
    )
    result = _post_csv(client, body.encode()).json()
    assert (result["accepted"], result["stored"], result["duplicates"]) == (3, 2, 1), result
    stored = db.execute("select source, external_id from app.leads order by source").fetchall()
    assert stored == [("vendor_a", "1"), ("vendor_b", "1"), ("vendor_c", "1")]


def test_bulk_ndjson(client, db):
    lines = [
        {"source": "vendor_x", "external_id": "V1", "email": "v1@example.com", "property_street": "1 A St", "property_zip": "10001"},
        "not an object",
        {"source": "vendor_x", "external_id": "V2", "phone": "+1 212 555 0100", "property_street": "2 A St", "property_zip": "10001"},
    ]  # fmt: skip
    body = b"\n".join(orjson.dumps(x) for x in lines) + b"\n{broken json\n\n"
    response = client.post(
        "/v1/leads/bulk", content=body, headers={"content-type": "application/x-ndjson"}
    )
    result = response.json()
    assert (result["rows"], result["accepted"], result["rejected"]) == (4, 2, 2), result
    assert {e["row"] for e in result["errors"]} == {2, 4}
    assert db.execute("select count(*) from app.leads where source = 'vendor_x'").fetchone()[0] == 2


def test_bulk_streams_a_chunked_body(client, db):
    rows = [
        f"C-{i},list_import,2025-02-01,N{i},L{i},n{i}@example.com,,{i} Pine St,Dallas,TX,75201"
        for i in range(5000)
    ]
    text = ("external_id,source,received_at,first_name,last_name,email,phone,property_street,"
            "property_city,property_state,property_zip\n" + "\n".join(rows) + "\n").encode()  # fmt: skip

    def chunks():
        for start in range(0, len(text), 7919):  # chunk borders fall inside rows and characters
            yield text[start : start + 7919]

    response = client.post("/v1/leads/bulk", content=chunks(), headers={"content-type": "text/csv"})
    assert response.status_code == 200
    assert response.json()["stored"] == 5000
    assert db.execute("select count(*) from app.leads").fetchone()[0] == 5000


def test_bulk_unknown_format_is_415(client):
    response = client.post(
        "/v1/leads/bulk", content=b"a,b\n1,2\n", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert client.post("/v1/leads/bulk?format=xml", content=b"x").status_code == 422


def test_legacy_encoding_rows_are_read_not_lost(client, db):
    body = b"external_id,source,email,property_street,property_zip\nX1,web,a@example.com,1 A St,10001\n"
    body += "X2,web,jose@example.com,2 Peña Blvd,10001\n".encode("cp1252")
    result = _post_csv(client, body).json()
    assert result["stored"] == 2 and result["rejected"] == 0
    street = db.execute("select property_street from app.leads where external_id = 'X2'").fetchone()
    assert street[0] == "2 Peña Blvd"


def test_semicolon_and_tab_separated_files(client, db):
    for sep, ext_id in ((";", "S1"), ("\t", "T1")):
        text = (
            sep.join(["external_id", "source", "email", "property_street", "property_zip"]) + "\n"
        )
        text += sep.join([ext_id, "web", "s@example.com", "1 Semi St", "10001"]) + "\n"
        result = _post_csv(client, text.encode()).json()
        assert result["stored"] == 1, result


def test_import_function_counts_and_batches(db, settings, monkeypatch):
    from hk_core.intake import common, leads

    # One row a chunk and a batch: every good row is its own COPY and transaction.
    monkeypatch.setattr(common, "BATCH_ROWS", 1)
    monkeypatch.setattr(leads, "CHUNK_ROWS", 1)
    result = import_leads(db, io.BytesIO(CSV.encode()), "csv", PiiHasher("k"))
    assert (result.accepted, result.stored, result.rejected) == (2, 2, 3)
    assert [e.row for e in result.errors] == [2, 3, 4]


def test_parallel_validation_gives_the_same_result(db, settings):
    rows = "\n".join(
        f"P-{i},ppc,2025-03-0{1 + i % 9},n{i}@example.com,{'' if i % 7 else 'x'}{i} Birch Rd,Waco,TX,{'76701' if i % 11 else 'BAD'}"
        for i in range(3000)
    )
    body = ("external_id,source,received_at,email,property_street,property_city,property_state,"
            "property_zip\n" + rows + "\n").encode()  # fmt: skip
    serial = import_leads(db, io.BytesIO(body), "csv", PiiHasher("k"), workers=1)
    db.execute("truncate app.leads cascade")
    parallel = import_leads(db, io.BytesIO(body), "csv", PiiHasher("k"), workers=2)
    assert serial.as_dict() == parallel.as_dict()
    assert parallel.rejected == len([i for i in range(3000) if i % 11 == 0])
    assert db.execute("select count(*) from app.leads").fetchone()[0] == parallel.stored
