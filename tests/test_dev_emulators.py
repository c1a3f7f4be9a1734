"""The development emulators: the env file, the TLS gRPC port and the JVM's trust in it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import REPO_ROOT


def _exports(path: Path) -> dict[str, str]:
    pairs = (line.removeprefix("export ").split("=", 1) for line in path.read_text().splitlines())
    return dict(pairs)


def test_env_file_lists_the_endpoints_and_sigterm_stops_both(tmp_path: Path) -> None:
    from spark_job.bigquery.clients import bigquery_client

    env_file = tmp_path / "emulators.env"
    process = subprocess.Popen(
        [sys.executable, "-m", "spark_job.dev.emulators", "--env-file", str(env_file)],
        cwd=REPO_ROOT,
    )
    try:
        deadline = time.monotonic() + 90
        while not env_file.exists():
            assert process.poll() is None, "the emulators exited at start"
            assert time.monotonic() < deadline, "no env file within 90 s"
            time.sleep(0.2)
        exports = _exports(env_file)
        assert set(exports) >= {
            "BIGQUERY_EMULATOR_HOST", "BIGQUERY_STORAGE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST",
            "GOOGLE_CLOUD_PROJECT", "SPARK_JOB_BIGQUERY_STORAGE_TLS_HOST", "SPARK_JOB_TRUSTSTORE",
        }  # fmt: skip
        assert Path(exports["SPARK_JOB_TRUSTSTORE"]).is_file()
        saved = os.environ.get("BIGQUERY_EMULATOR_HOST")
        os.environ["BIGQUERY_EMULATOR_HOST"] = exports["BIGQUERY_EMULATOR_HOST"]
        try:  # the file's endpoint is the one that answers
            client = bigquery_client(exports["GOOGLE_CLOUD_PROJECT"])
            client.create_dataset("from_env_file", timeout=30)
            assert [d.dataset_id for d in client.list_datasets(timeout=30)] == ["from_env_file"]
        finally:
            if saved is None:
                os.environ.pop("BIGQUERY_EMULATOR_HOST")
            else:
                os.environ["BIGQUERY_EMULATOR_HOST"] = saved
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 2
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        gone, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, f"still running after SIGTERM: {alive}"
    finally:
        if process.poll() is None:
            process.kill()


def test_tls_port_serves_the_storage_api_with_the_emulators_certificate(emulators: Any) -> None:
    """A TLS client that trusts only the emulators' certificate reaches bqemulator's gRPC."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    credentials = grpc.ssl_channel_credentials(emulators.certificate.pem_bytes)
    target = emulators.environment["SPARK_JOB_BIGQUERY_STORAGE_TLS_HOST"]
    with grpc.secure_channel(target, credentials) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=20
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    system_cas = grpc.ssl_channel_credentials()
    with grpc.secure_channel(target, system_cas) as channel, pytest.raises(grpc.RpcError):
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)


def test_the_jvm_trusts_the_tls_port(spark: Any, emulators: Any) -> None:
    """The session's JVM (built like ``--local`` with the emulators' exports) completes a TLS
    handshake with the port, as the spark-bigquery connector's gRPC client would."""
    jvm = spark.sparkContext._jvm
    host, port = emulators.environment["SPARK_JOB_BIGQUERY_STORAGE_TLS_HOST"].split(":")
    socket = jvm.javax.net.ssl.SSLSocketFactory.getDefault().createSocket(host, int(port))
    try:
        socket.startHandshake()
        peer = socket.getSession().getPeerPrincipal().getName()
    finally:
        socket.close()
    assert peer == "CN=localhost"


def test_session_hands_the_emulators_to_the_jvm_connectors(spark: Any, emulators: Any) -> None:
    conf = spark.sparkContext.getConf()
    gcs = emulators.environment["STORAGE_EMULATOR_HOST"]
    assert conf.get("spark.hadoop.fs.gs.storage.root.url") == gcs
    assert conf.get("spark.hadoop.fs.gs.auth.type") == "UNAUTHENTICATED"
    rest = emulators.environment["BIGQUERY_EMULATOR_HOST"]
    assert conf.get("spark.datasource.bigquery.bigQueryHttpEndpoint") == f"http://{rest}"
    tls = emulators.environment["SPARK_JOB_BIGQUERY_STORAGE_TLS_HOST"]
    assert conf.get("spark.datasource.bigquery.bigQueryStorageGrpcEndpoint") == tls


# ----------------------------------------------------------------------------------------------
# bqemulator answers like BigQuery where the spark-bigquery connector needs it
# (spark_job/dev/bq_emulator_patches.py, bq_emulator_jobs.py): checked with Google's Python
# clients, no Spark.

EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"  # Arrow IPC end-of-stream marker
DATASET = "dev_emulator_gaps"


@pytest.fixture(scope="module")
def bq(emulators: Any) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(
        project=emulators.project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(
            api_endpoint=f"http://{emulators.environment['BIGQUERY_EMULATOR_HOST']}"
        ),
    )
    client.create_dataset(DATASET, exists_ok=True, timeout=30)
    return client


@pytest.fixture(scope="module")
def read_client(emulators: Any) -> Any:
    import grpc
    from google.cloud import bigquery_storage_v1
    from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
        BigQueryReadGrpcTransport,
    )

    channel = grpc.insecure_channel(emulators.environment["BIGQUERY_STORAGE_EMULATOR_HOST"])
    yield bigquery_storage_v1.BigQueryReadClient(
        transport=BigQueryReadGrpcTransport(channel=channel)
    )
    channel.close()


@pytest.fixture(scope="module")
def bucket(emulators: Any) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project=emulators.project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=emulators.environment["STORAGE_EMULATOR_HOST"]),
    )
    return client.create_bucket("dev-emulator-gaps")


def _rest(emulators: Any, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The raw JSON bqemulator answers (the Python client hides the type names' spelling)."""
    import json
    import urllib.request

    host = emulators.environment["BIGQUERY_EMULATOR_HOST"]
    request = urllib.request.Request(
        f"http://{host}/bigquery/v2/projects/{emulators.project}/{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _table(bq: Any, name: str, columns: str, rows: str) -> str:
    table = f"{bq.project}.{DATASET}.{name}"
    bq.query(f"CREATE OR REPLACE TABLE `{table}` ({columns})").result(timeout=60)
    bq.query(f"INSERT INTO `{table}` VALUES {rows}").result(timeout=60)
    return table


def _session(read_client: Any, project: str, dataset: str, table: str, **options: Any) -> Any:
    from google.cloud.bigquery_storage_v1 import types

    return read_client.create_read_session(
        parent=f"projects/{project}",
        read_session=types.ReadSession(
            table=f"projects/{project}/datasets/{dataset}/tables/{table}",
            data_format=types.DataFormat.ARROW,
            read_options=types.ReadSession.TableReadOptions(**options),
        ),
        max_stream_count=1,
        timeout=30,
    )


def _arrow_stream(read_client: Any, session: Any) -> Any:
    """Read every stream as the connector's Java reader does: the session's schema, then each
    response's record batch, joined into one IPC stream."""
    import pyarrow as pa

    parts = [session.arrow_schema.serialized_schema]
    for stream in session.streams:
        for response in read_client.read_rows(stream.name, timeout=30):
            parts.append(response.arrow_record_batch.serialized_record_batch)
    return pa.ipc.open_stream(b"".join(parts) + EOS).read_all()


def test_read_session_arrow_schema_and_batches_are_single_ipc_messages(
    bq: Any, read_client: Any
) -> None:
    import pyarrow as pa

    _table(bq, "arrow_rows", "id INT64, name STRING", "(1, 'a'), (2, 'b'), (3, 'c')")
    session = _session(read_client, bq.project, DATASET, "arrow_rows")
    serialized = session.arrow_schema.serialized_schema
    assert not serialized.endswith(EOS)
    schema = pa.ipc.read_schema(pa.py_buffer(serialized))
    assert schema.names == ["id", "name"]
    messages = pa.ipc.MessageReader.open_stream(pa.BufferReader(serialized))
    assert messages.read_next_message().type == "schema"
    with pytest.raises(StopIteration):
        messages.read_next_message()
    for response in read_client.read_rows(session.streams[0].name, timeout=30):
        batch = response.arrow_record_batch.serialized_record_batch
        messages = pa.ipc.MessageReader.open_stream(pa.BufferReader(batch))
        assert messages.read_next_message().type == "record batch"
        with pytest.raises(StopIteration):
            messages.read_next_message()
    assert _arrow_stream(read_client, session).to_pylist() == [
        {"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"},
    ]  # fmt: skip


def test_rest_schemas_carry_legacy_type_names(emulators: Any, bq: Any) -> None:
    fields = [
        {"name": "i", "type": "INT64"},
        {"name": "f", "type": "FLOAT64"},
        {"name": "b", "type": "BOOL"},
        {"name": "n", "type": "NUMERIC"},
        {"name": "s", "type": "STRUCT", "fields": [{"name": "x", "type": "INT64"}]},
        {"name": "r", "type": "INT64", "mode": "REPEATED"},
    ]
    legacy = ["INTEGER", "FLOAT", "BOOLEAN", "NUMERIC", "RECORD", "INTEGER"]
    table = {"tableReference": {"tableId": "legacy_names"}, "schema": {"fields": fields}}
    inserted = _rest(emulators, f"datasets/{DATASET}/tables", table)
    fetched = _rest(emulators, f"datasets/{DATASET}/tables/legacy_names")
    for answer in (inserted, fetched):
        assert [f["type"] for f in answer["schema"]["fields"]] == legacy
        assert answer["schema"]["fields"][4]["fields"][0]["type"] == "INTEGER"
    job = bq.query(f"SELECT i, f, b, s FROM `{DATASET}.legacy_names`")
    job.result(timeout=60)
    results = _rest(emulators, f"queries/{job.job_id}")
    assert [f["type"] for f in results["schema"]["fields"]] == legacy[:3] + ["RECORD"]


def test_view_made_through_rest_has_the_schema_of_its_query(bq: Any) -> None:
    from google.cloud import bigquery

    base = _table(bq, "view_base", "id INT64, name STRING, x FLOAT64", "(1, 'a', 0.5)")
    view = bigquery.Table(f"{bq.project}.{DATASET}.rest_view")
    view.view_query = f"SELECT id, name FROM `{base}` WHERE id > 0"
    created = bq.create_table(view, timeout=30)
    fetched = bq.get_table(view.reference, timeout=30)
    for table in (created, fetched):
        assert table.table_type == "VIEW"
        assert [(f.name, f.field_type) for f in table.schema] == [
            ("id", "INTEGER"), ("name", "STRING"),
        ]  # fmt: skip


def test_query_destination_table_is_readable_with_the_storage_read_api(
    bq: Any, read_client: Any
) -> None:
    """How the connector reads a view: a query job, then a read session on its destination."""
    base = _table(bq, "query_base", "id INT64, name STRING", "(1, 'a'), (2, 'b'), (3, 'c')")
    job = bq.query(f"SELECT id, name FROM `{base}` WHERE id >= 2")
    job.result(timeout=60)
    destination = job.destination
    table = bq.get_table(destination, timeout=30)
    assert table.num_rows == 2
    assert [(f.name, f.field_type) for f in table.schema] == [("id", "INTEGER"), ("name", "STRING")]
    project, dataset, name = destination.project, destination.dataset_id, destination.table_id
    session = _session(read_client, project, dataset, name)
    assert sorted(_arrow_stream(read_client, session).column("id").to_pylist()) == [2, 3]
    filtered = _session(
        read_client, project, dataset, name, selected_fields=["name"], row_restriction="id = 3"
    )
    assert _arrow_stream(read_client, filtered).to_pylist() == [{"name": "c"}]


def _upload(bucket: Any, name: str, path: Any) -> str:
    bucket.blob(name).upload_from_filename(str(path), timeout=30)
    return f"gs://{bucket.name}/{name}"


def test_load_job_statistics_are_complete(bq: Any, bucket: Any, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from google.cloud import bigquery

    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]}), path)
    uri = _upload(bucket, "load/rows.parquet", path)
    config = bigquery.LoadJobConfig(
        source_format="PARQUET",
        schema=[bigquery.SchemaField("id", "INT64"), bigquery.SchemaField("x", "FLOAT64")],
        write_disposition="WRITE_APPEND",
    )
    for _ in range(2):  # the second load appends: its statistics count its own rows
        job = bq.load_table_from_uri(uri, f"{bq.project}.{DATASET}.loaded", job_config=config)
        job.result(timeout=60)
        load = job._properties["statistics"]["load"]
        assert load == {
            "inputFiles": "1",
            "inputFileBytes": str(path.stat().st_size),
            "outputRows": "3",
            "outputBytes": load["outputBytes"],
        }
        assert int(load["outputBytes"]) > 0
    assert bq.get_table(f"{bq.project}.{DATASET}.loaded", timeout=30).num_rows == 6


def test_load_jobs_read_avro_and_orc(bq: Any, bucket: Any, tmp_path: Path) -> None:
    import fastavro
    import pyarrow as pa
    from google.cloud import bigquery
    from pyarrow import orc

    avro_path = tmp_path / "rows.avro"
    schema = {
        "type": "record", "name": "r",
        "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": ["null", "string"]}],
    }  # fmt: skip
    with avro_path.open("wb") as out:
        fastavro.writer(out, schema, [{"id": 1, "name": "a"}, {"id": 2, "name": None}], "deflate")
    orc_path = tmp_path / "rows.orc"
    orc.write_table(pa.table({"id": [1, 2], "name": ["a", None]}), orc_path)
    for source_format, path in (("AVRO", avro_path), ("ORC", orc_path)):
        table = f"{bq.project}.{DATASET}.loaded_{source_format.lower()}"
        config = bigquery.LoadJobConfig(
            source_format=source_format,
            schema=[bigquery.SchemaField("id", "INT64"), bigquery.SchemaField("name", "STRING")],
        )
        uri = _upload(bucket, f"load/{path.name}", path)
        bq.load_table_from_uri(uri, table, job_config=config).result(timeout=60)
        rows = bq.query(f"SELECT id, name FROM `{table}` ORDER BY id").result(timeout=60)
        assert [tuple(row) for row in rows] == [(1, "a"), (2, None)], source_format


def test_snappy_avro_blocks_decode_without_cramjam() -> None:
    """Spark writes Avro with snappy; the emulator decodes it with pyarrow's codec."""
    import io

    import pyarrow as pa

    from spark_job.dev.bq_emulator_jobs import _snappy_block

    data = b"spark avro block " * 50
    compressed = pa.compress(data, codec="snappy", asbytes=True)
    length = len(compressed) + 4  # the block's length counts the CRC-32 after the data
    zigzag, framed = length << 1, b""
    while zigzag >= 0x80:
        framed, zigzag = framed + bytes([zigzag & 0x7F | 0x80]), zigzag >> 7
    framed += bytes([zigzag]) + compressed + b"CRC!"
    assert _snappy_block(io.BytesIO(framed)).read() == data


def test_merge_insert_row_runs(bq: Any) -> None:
    """The MERGE of the connector's direct write with SaveMode.Overwrite."""
    target = _table(bq, "merge_target", "id INT64, name STRING", "(1, 'old')")
    source = _table(bq, "merge_source", "id INT64, name STRING", "(2, 'new'), (3, 'new')")
    bq.query(
        f"MERGE `{target}`\nUSING (SELECT * FROM `{source}`)\nON FALSE\n"
        "WHEN NOT MATCHED THEN INSERT ROW\nWHEN NOT MATCHED BY SOURCE THEN DELETE"
    ).result(timeout=60)
    rows = bq.query(f"SELECT id, name FROM `{target}` ORDER BY id").result(timeout=60)
    assert [tuple(row) for row in rows] == [(2, "new"), (3, "new")]


def test_gcs_connector_does_not_use_the_native_move_with_fake_gcs_server() -> None:
    from spark_job.run.session import emulator_conf

    conf = emulator_conf({"STORAGE_EMULATOR_HOST": "http://127.0.0.1:4443"})
    assert conf["spark.hadoop.fs.gs.operation.move.enable"] == "false"
