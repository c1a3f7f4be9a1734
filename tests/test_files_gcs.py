"""Files on GCS (fake-gcs-server) and local disk, Cloud ML Engine style: wildcard inputs, six
formats, sharded results, SaveMode on a gs:// prefix, and the end-to-end CLI run.

The session has the GCS connector jar of ``make setup`` (as ``--local`` does): PARQUET on gs://
is read by Spark's reader through it, the other formats by the job's Python reader, and every
write by the job's own staging; nothing about GCS is faked beyond the server.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from pathlib import Path

import fastavro
import pandas as pd
import pytest

from spark_job.errors import UserError
from spark_job.run.runner import run_job
from spark_job.spec import parse_spec_text
from spark_job.storage.input_files import expand_all
from tests import gcs_helpers as g
from tests.models import save_probe_model

pytestmark = pytest.mark.usefixtures("emulators")

SHARD = re.compile(r"prediction\.results-(\d{5})-of-(\d{5})$")


@pytest.fixture(scope="module")
def sum_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_probe_model(tmp_path_factory.mktemp("model") / "sum", "sum")


def spec_text(
    uris: list[str] | str,
    model: Path | str,
    output: str,
    fmt: str = "JSON",
    out_fmt: str = "JSON",
    features: list[str] | None = None,
    passthrough: list[str] | None = None,
    save_mode: str = "ERRORIFEXISTS",
    extra: str = "",
    sink_options: str = "",
) -> str:
    uri_lines = f"  uri: {uris}" if isinstance(uris, str) else "  uris: [" + ", ".join(uris) + "]"
    return f"""
gcsSource:
  format: {fmt}
{uri_lines}
  features: {features or []}
  passthrough: {passthrough or []}
model:
  type: PYFUNC
  uri: {model}
gcsSink:
  format: {out_fmt}
  uri: {output}
  save_mode: {save_mode}
{sink_options}
{extra}
"""


def run(spark, text: str, run_id: str = "run1"):  # type: ignore[no-untyped-def]
    return run_job(spark, parse_spec_text(text), "gcs_test", run_id)


def by_id(rows: list[dict]) -> dict:
    return {row["id"]: row for row in rows}


# --------------------------------------------------------------------------- wildcards


@pytest.fixture(scope="module")
def wild(emulators) -> str:  # type: ignore[no-untyped-def]
    bucket = g.new_bucket("wild")
    for name in ("data/a.json", "data/b.json", "data/nested/c.json", "data-extra.json"):
        g.put(bucket, name, '{"id": 1, "x": 1.0}\n')
    g.put(bucket, "data/_SUCCESS", "")
    return bucket


class TestWildcards:
    def names(self, uris: list[str]) -> list[str]:
        return [f.uri.split("/", 3)[3] for f in expand_all(uris, "gcsSource")]

    def test_dir_star_is_every_object_directly_in_dir(self, wild: str) -> None:
        assert self.names([f"gs://{wild}/data/*"]) == ["data/a.json", "data/b.json"]

    def test_prefix_star_is_every_object_starting_with_prefix(self, wild: str) -> None:
        assert self.names([f"gs://{wild}/data*"]) == [
            "data-extra.json",
            "data/a.json",
            "data/b.json",
            "data/nested/c.json",
        ]

    def test_a_folder_without_star_and_an_exact_object(self, wild: str) -> None:
        assert self.names([f"gs://{wild}/data"]) == ["data/a.json", "data/b.json"]
        assert self.names([f"gs://{wild}/data/b.json"]) == ["data/b.json"]

    def test_several_uris_are_combined_without_duplicates(self, wild: str) -> None:
        uris = [f"gs://{wild}/data/a.json", f"gs://{wild}/data-*", f"gs://{wild}/data/*"]
        assert self.names(uris) == ["data/a.json", "data-extra.json", "data/b.json"]

    def test_a_uri_matching_nothing_is_named(self, wild: str) -> None:
        with pytest.raises(
            UserError, match=rf"gcsSource.uris\[1\]: no object matches 'gs://{wild}/nope\*'"
        ):
            expand_all([f"gs://{wild}/data/*", f"gs://{wild}/nope*"], "gcsSource")
        with pytest.raises(UserError, match=r"gcsSource.uri: no object matches"):
            expand_all([f"gs://{wild}/data/nothing.json"], "gcsSource")
        with pytest.raises(UserError, match="bucket 'no-such-bucket-zz' does not exist"):
            expand_all(["gs://no-such-bucket-zz/x*"], "gcsSource")

    def test_local_wildcards_and_file_uris(self, tmp_path: Path) -> None:
        for name in ("in/a.csv", "in/b.csv", "in/sub/c.csv", "in-x.csv"):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text("id\n1\n")
        local = [f.uri for f in expand_all([f"{tmp_path}/in/*"], "gcsSource")]
        assert local == [str(tmp_path / "in/a.csv"), str(tmp_path / "in/b.csv")]
        prefixed = [f.uri for f in expand_all([f"file://{tmp_path}/in*"], "gcsSource")]
        assert prefixed == [str(tmp_path / "in-x.csv")]  # prefix* matches files, not folders
        with pytest.raises(UserError, match="gcsSource.uri: no file matches"):
            expand_all([f"{tmp_path}/none*"], "gcsSource")

    def test_job_reads_several_uris(self, spark, wild: str, sum_model: Path) -> None:
        uris = [f"gs://{wild}/data/*", f"gs://{wild}/data-extra.json"]
        out = f"gs://{wild}/out-several"
        result = run(spark, spec_text(uris, sum_model, out, features=["x"], passthrough=["id"]))
        assert result.rows_read == 3 and result.rows_written == 3
        assert [r["prediction"] for r in g.json_lines(wild, "out-several/")] == [1.0] * 3


# --------------------------------------------------------------------------- formats


@pytest.fixture()
def bucket(emulators) -> str:  # type: ignore[no-untyped-def]
    return g.new_bucket()


@pytest.mark.spark35
def test_json_objects_to_sharded_json_results(spark, bucket: str, sum_model: Path) -> None:
    g.put(bucket, "in/p1.json", '{"id": "a", "x": 1, "y": 0.5}\n{"id": "b", "x": 2, "y": 1.5}\n')
    g.put(bucket, "in/p2.json", '\n{"id": "c", "y": 4.0, "x": 3}\n')
    g.put(bucket, "in/p3.json", '{"id": "d", "x": 4, "y": null}\n')
    out = f"gs://{bucket}/results"
    result = run(spark, spec_text(f"gs://{bucket}/in/*", sum_model, out, passthrough=["id"]))
    assert (result.rows_read, result.rows_written, result.rows_failed) == (4, 4, 0)
    names = g.listing(bucket, "results/")
    shards = [SHARD.search(n) for n in names]
    assert all(shards), names
    count = len(names)
    assert [(int(m[1]), int(m[2])) for m in shards] == [(i, count) for i in range(count)]  # type: ignore[index]
    rows = by_id(g.json_lines(bucket, "results/"))
    assert rows == {
        "a": {"id": "a", "x": 1, "y": 0.5, "prediction": 1.5},
        "b": {"id": "b", "x": 2, "y": 1.5, "prediction": 3.5},
        "c": {"id": "c", "x": 3, "y": 4.0, "prediction": 7.0},
        "d": {"id": "d", "x": 4, "y": None, "prediction": 4.0},
    }
    assert list(g.json_lines(bucket, "results/")[0]) == ["id", "x", "y", "prediction"]
    assert not [n for n in g.listing(bucket) if "staging" in n]


def test_json_lists_are_unnamed_feature_vectors(spark, bucket: str, sum_model: Path) -> None:
    g.put(bucket, "in/v.json", "[1.0, 2.0, 3.0]\n[10, 20, 30]\n")
    out = f"gs://{bucket}/vectors"
    text = spec_text(f"gs://{bucket}/in/v.json", sum_model, out, sink_options="")
    result = run(
        spark, text.replace("save_mode:", "options: {includeFeatures: true}\n  save_mode:")
    )
    assert result.rows_written == 2
    rows = sorted(g.json_lines(bucket, "vectors/"), key=lambda r: r["prediction"])
    assert rows == [
        {"0": 1.0, "1": 2.0, "2": 3.0, "prediction": 6.0},
        {"0": 10.0, "1": 20.0, "2": 30.0, "prediction": 60.0},
    ]


def test_include_features_false_keeps_keys_and_result(spark, bucket: str, sum_model: Path) -> None:
    g.put(bucket, "in/p.json", '{"key": 7, "x": 1.5}\n')
    out = f"gs://{bucket}/lean"
    text = spec_text(
        f"gs://{bucket}/in/p.json",
        sum_model,
        out,
        passthrough=["key"],
        sink_options="  options: {includeFeatures: false}",
    )
    run(spark, text)
    assert g.json_lines(bucket, "lean/") == [{"key": 7, "prediction": 1.5}]


@pytest.mark.spark35
def test_csv_and_parquet_from_gcs_to_parquet_and_csv(spark, bucket: str, sum_model: Path) -> None:
    g.put(bucket, "csv/a.csv", "id,x,label\n1,0.5,p\n2,1.5,q\n")
    buffer = io.BytesIO()
    pd.DataFrame({"id": [3, 4], "x": [2.5, 3.5], "label": ["r", "s"]}).to_parquet(buffer)
    g.put(bucket, "pq/a.parquet", buffer.getvalue())
    run(
        spark,
        spec_text(
            f"gs://{bucket}/csv/*",
            sum_model,
            f"gs://{bucket}/o1",
            fmt="CSV",
            out_fmt="PARQUET",
            features=["x"],
            passthrough=["id"],
        ),
    )
    run(
        spark,
        spec_text(
            f"gs://{bucket}/pq/*",
            sum_model,
            f"gs://{bucket}/o2",
            fmt="PARQUET",
            out_fmt="CSV",
            features=["x"],
            passthrough=["id"],
        ),
    )
    parquet_names = g.listing(bucket, "o1/")
    assert parquet_names and all(re.search(r"/part-\d{5}-run1\.parquet$", n) for n in parquet_names)
    frames = [pd.read_parquet(io.BytesIO(g.get(bucket, n))) for n in parquet_names]
    got = pd.concat(frames).sort_values("id").reset_index(drop=True)
    assert got.to_dict("records") == [
        {"id": 1, "x": 0.5, "prediction": 0.5},
        {"id": 2, "x": 1.5, "prediction": 1.5},
    ]
    csv_text = "".join(g.get(bucket, n).decode() for n in g.listing(bucket, "o2/"))
    assert '"id","x","prediction"' in csv_text
    assert {line for line in csv_text.splitlines() if not line.startswith('"')} == {
        "3,2.5,2.5",
        "4,3.5,3.5",
    }


@pytest.mark.spark35
def test_avro_in_and_out(spark, bucket: str, sum_model: Path) -> None:
    schema = {
        "type": "record",
        "name": "row",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "x", "type": ["null", "double"]},
            {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        ],
    }
    import datetime as dt

    buffer = io.BytesIO()
    records = [
        {"id": 1, "x": 0.25, "day": dt.date(2024, 1, 2)},
        {"id": 2, "x": None, "day": dt.date(2024, 3, 4)},
    ]
    fastavro.writer(buffer, fastavro.parse_schema(schema), records)
    g.put(bucket, "avro/a.avro", buffer.getvalue())
    run(
        spark,
        spec_text(
            f"gs://{bucket}/avro/*",
            sum_model,
            f"gs://{bucket}/out",
            fmt="AVRO",
            out_fmt="AVRO",
            features=["x"],
            passthrough=["id", "day"],
        ),
    )
    rows = []
    for name in g.listing(bucket, "out/"):
        rows += list(fastavro.reader(io.BytesIO(g.get(bucket, name))))
    assert sorted(rows, key=lambda r: r["id"]) == [
        {"id": 1, "day": dt.date(2024, 1, 2), "x": 0.25, "prediction": 0.25},
        {"id": 2, "day": dt.date(2024, 3, 4), "x": None, "prediction": 0.0},
    ]


@pytest.mark.parametrize("fmt", ["TFRECORD", "TFRECORD_GZIP"])
@pytest.mark.spark35
def test_tfrecord_examples(spark, bucket: str, sum_model: Path, fmt: str) -> None:
    records = [
        g.example({"id": [b"a"], "age": [30], "score": [0.5], "tags": [1, 2, 3]}),
        g.example({"id": [b"b"], "age": [-4], "score": [1.25], "tags": [7]}),
    ]
    data = g.tfrecords(records)
    if fmt == "TFRECORD_GZIP":
        data = gzip.compress(data)
    g.put(bucket, "tf/part-0.tfrecord", data)
    out = f"gs://{bucket}/tf-out"
    result = run(
        spark,
        spec_text(
            f"gs://{bucket}/tf/*",
            sum_model,
            out,
            fmt=fmt,
            features=["age", "score"],
            passthrough=["id", "tags"],
        ),
    )
    assert result.rows_written == 2
    rows = by_id(g.json_lines(bucket, "tf-out/"))
    assert rows == {
        "a": {"id": "a", "tags": [1, 2, 3], "age": 30, "score": 0.5, "prediction": 30.5},
        "b": {"id": "b", "tags": [7], "age": -4, "score": 1.25, "prediction": -2.75},
    }


def test_local_json_and_gzip_inputs_to_local_avro(spark, tmp_path: Path, sum_model: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_text('{"id": 1, "x": 2.0}\n')
    (tmp_path / "in" / "b.json.gz").write_bytes(gzip.compress(b'{"id": 2, "x": 3.0}\n'))
    out = tmp_path / "out"
    run(
        spark,
        spec_text(
            f"file://{tmp_path}/in/*",
            sum_model,
            str(out),
            out_fmt="AVRO",
            features=["x"],
            passthrough=["id"],
        ),
    )
    parts = sorted(p for p in out.iterdir() if not p.name.startswith("_"))  # not _report.*
    rows = [r for p in parts for r in fastavro.reader(p.open("rb"))]
    assert sorted(rows, key=lambda r: r["id"]) == [
        {"id": 1, "x": 2.0, "prediction": 2.0},
        {"id": 2, "x": 3.0, "prediction": 3.0},
    ]
    assert all(p.suffix == ".avro" for p in parts)


@pytest.mark.spark35
def test_explicit_schema_option(spark, bucket: str, sum_model: Path) -> None:
    g.put(bucket, "in/p.json", '{"id": 1, "x": 2}\n')
    out = f"gs://{bucket}/typed"
    text = spec_text(f"gs://{bucket}/in/p.json", sum_model, out, passthrough=["id"])
    text = text.replace(
        "  passthrough:", '  options: {schema: "id string, x double"}\n  passthrough:'
    )
    run(spark, text)
    assert g.json_lines(bucket, "typed/") == [{"id": "1", "x": 2.0, "prediction": 2.0}]


# --------------------------------------------------------------------------- SaveMode


class TestSaveModeOnGcs:
    @pytest.fixture()
    def setup(self, bucket: str) -> tuple[str, str]:
        g.put(bucket, "in/p.json", '{"id": 1, "x": 1.0}\n{"id": 2, "x": 2.0}\n')
        g.put(bucket, "out/old.txt", "old")
        return bucket, f"gs://{bucket}/out"

    def test_error_if_exists(self, spark, setup, sum_model: Path) -> None:  # type: ignore[no-untyped-def]
        bucket, out = setup
        with pytest.raises(
            UserError,
            match="gcsSink.uri: output .* already exists and gcsSink.save_mode is ERRORIFEXISTS",
        ):
            run(spark, spec_text(f"gs://{bucket}/in/*", sum_model, out))
        assert g.listing(bucket, "out/") == ["out/old.txt"]

    def test_ignore(self, spark, setup, sum_model: Path) -> None:  # type: ignore[no-untyped-def]
        bucket, out = setup
        result = run(spark, spec_text(f"gs://{bucket}/in/*", sum_model, out, save_mode="IGNORE"))
        assert result.status == "SKIPPED"
        assert g.listing(bucket, "out/") == ["out/old.txt"]

    def test_overwrite_then_append(self, spark, setup, sum_model: Path) -> None:  # type: ignore[no-untyped-def]
        bucket, out = setup
        run(spark, spec_text(f"gs://{bucket}/in/*", sum_model, out, save_mode="OVERWRITE"))
        first = g.listing(bucket, "out/")
        assert first == ["out/prediction.results-00000-of-00001"] or all(
            SHARD.search(n) for n in first
        )
        assert "out/old.txt" not in first
        run(spark, spec_text(f"gs://{bucket}/in/*", sum_model, out, save_mode="APPEND"), "run2")
        second = g.listing(bucket, "out/")
        assert set(first) < set(second)
        assert all(n in first or n.startswith("out/run2-prediction.results-") for n in second)
        assert sorted(r["id"] for r in g.json_lines(bucket, "out/", "")) == [1, 1, 2, 2]
        assert not [n for n in g.listing(bucket) if "staging" in n]


def test_gcs_sink_needs_a_folder_and_an_existing_bucket(spark, sum_model: Path) -> None:
    with pytest.raises(UserError, match="gcsSink.uri: 'gs://b': give a folder"):
        run(spark, spec_text("gs://b/in/*", sum_model, "gs://b"))
    with pytest.raises(UserError, match="gcsSink.uri: bucket 'no-such-bucket-x' does not exist"):
        run(spark, spec_text("gs://b/in/*", sum_model, "gs://no-such-bucket-x/out"))


# --------------------------------------------------------------------------- end to end


@pytest.mark.spark35
def test_cloud_ml_engine_style_job_end_to_end(bucket: str, tmp_path: Path) -> None:
    """JSON instances under gs://…/* → a model from gs:// → sharded results + error stats,
    through the command line in a subprocess (its own driver JVM)."""
    from tests.test_cli import run_cli

    g.upload_dir(g.save_picky_model(tmp_path / "model", "x", 13.0), bucket, "models/picky")
    g.put(bucket, "instances/part-1.json", '{"key": "k1", "x": 1.0}\n{"key": "k2", "x": 2.0}\n')
    g.put(
        bucket,
        "instances/part-2.json",
        '{"key": "k3", "x": 13.0}\nnot json\n{"key": "k4", "x": 4.0}\n',
    )
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"""
kind: PredictionJob
name: cmle-style
gcsSource:
  format: JSON
  uri: gs://{bucket}/instances/*
  features: [x]
  passthrough: [key]
model:
  type: PYFUNC_V2
  uri: gs://{bucket}/models/picky
gcsSink:
  format: JSON
  uri: gs://{bucket}/predictions
  result_column: prediction
errorHandling:
  mode: RECORD_AND_CONTINUE
  maxErrorRatio: 0.5
"""
    )
    proc = run_cli("--job-name", "cmle_style", "--spec-path", str(spec), "--local")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "instances: 3 succeeded, 2 failed; rows written: 3" in proc.stdout
    names = g.listing(bucket, "predictions/")
    results = [n for n in names if SHARD.search(n)]
    assert results and len(results) == int(SHARD.search(results[0])[2])  # type: ignore[index]
    assert "predictions/prediction.errors_stats-00000-of-00001" in names
    rows = g.json_lines(bucket, "predictions/")
    assert sorted((r["key"], r["prediction"]) for r in rows) == [
        ("k1", 1.0),
        ("k2", 2.0),
        ("k4", 4.0),
    ]
    report = [
        json.loads(line)
        for line in g.get(bucket, "predictions/prediction.errors_stats-00000-of-00001")
        .decode()
        .splitlines()
    ]
    assert [(r["error"], r["count"]) for r in report] == [("MODEL_ERROR", 1), ("UNPARSEABLE", 1)]
    model_error, unparseable = report
    assert model_error["examples"][0]["file"] == f"gs://{bucket}/instances/part-2.json"
    assert model_error["examples"][0]["line"] == 1
    assert "cannot score x=13.0" in model_error["examples"][0]["message"]
    assert unparseable["examples"][0]["line"] == 2
    assert unparseable["examples"][0]["message"].startswith("not valid JSON")
    assert not [n for n in g.listing(bucket) if "staging" in n]


def test_parquet_dates_and_timestamps_from_gcs(spark, bucket: str, sum_model: Path) -> None:
    import datetime as dt

    frame = pd.DataFrame(
        {
            "id": [1, 2],
            "day": [dt.date(2021, 3, 4), dt.date(2023, 12, 31)],
            "at": pd.to_datetime(["2019-01-01 10:00", "2020-06-01 00:00"]),
            "x": [1.0, 2.0],
        }
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer, coerce_timestamps="us")
    g.put(bucket, "pq/a.parquet", buffer.getvalue())
    out = f"gs://{bucket}/dated"
    text = spec_text(
        f"gs://{bucket}/pq/a.parquet",
        sum_model,
        out,
        fmt="PARQUET",
        features=["x"],
        passthrough=["id", "day", "at"],
    )
    run(spark, text)
    assert sorted(g.json_lines(bucket, "dated/"), key=lambda r: r["id"]) == [
        {"id": 1, "day": "2021-03-04", "at": "2019-01-01T10:00:00Z", "x": 1.0, "prediction": 1.0},
        {"id": 2, "day": "2023-12-31", "at": "2020-06-01T00:00:00Z", "x": 2.0, "prediction": 2.0},
    ]


@pytest.mark.spark35
def test_reader_options_are_checked(spark, bucket: str, sum_model: Path, tmp_path: Path) -> None:
    source = g.put(bucket, "in/p.json", '{"id": 1, "x": 1.0}\n')
    base = spec_text(source, sum_model, f"gs://{bucket}/o", features=["x"])

    def with_options(options: str, text: str = base) -> str:
        return text.replace("  features:", f"  options: {options}\n  features:")

    with pytest.raises(UserError, match=r"gcsSource.options.multiLine: not an option of the JSON"):
        run(spark, with_options("{multiLine: true}"))
    with pytest.raises(UserError, match="gcsSource.options.reader: 'java' is not one of"):
        run(spark, with_options("{reader: java}"))
    with pytest.raises(UserError, match="gcsSource.options.schema: not a valid schema"):
        run(spark, with_options('{schema: "x double,,"}'))
    assert g.listing(bucket, "o/") == []
    assert run(spark, with_options("{reader: spark}"), "spark-reader").rows_written == 1
    assert [name for name in g.listing(bucket, "o/") if "results" in name] == [
        "o/prediction.results-00000-of-00001"
    ]  # only the run through Spark's reader wrote

    (tmp_path / "in.json").write_text('{"id": 1, "x": 1.0}\n{"id": 2, "x": 2.5, "extra": [1]}\n')
    local = spec_text(str(tmp_path / "in.json"), sum_model, str(tmp_path / "out"), features=["x"])
    result = run(spark, with_options("{reader: spark, primitivesAsString: false}", local))
    assert result.rows_written == 2  # Spark's own JSON reader, with its own options


def test_files_are_spread_over_partitions_by_size() -> None:
    from spark_job.sources.file_groups import group_files
    from spark_job.storage.input_files import InputFile

    files = [InputFile(f"f{i}", size) for i, size in enumerate([100, 10, 10, 10, 70, 5])]
    groups = group_files(files, parallelism=2, max_bytes=1000)
    assert sorted(i for group in groups for i in group) == list(range(6))  # each file once
    assert len(groups) == 2
    loads = sorted(sum(files[i].size for i in group) for group in groups)
    assert loads == [100, 105]  # largest first, on the least loaded partition
    assert len(group_files(files, parallelism=2, max_bytes=50)) == 5  # 205 bytes / 50 → 5
    assert len(group_files(files[:1], parallelism=8, max_bytes=50)) == 1  # never split a file
    assert group_files([], parallelism=2, max_bytes=50) == []


@pytest.mark.spark35
def test_gcs_parquet_is_read_by_sparks_reader_through_the_gcs_connector(
    spark, bucket: str, sum_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With the GCS connector on the class path, PARQUET on gs:// (wildcards expanded by the
    job, as for the Python reader) is read by Spark's own reader."""
    import logging

    for index in range(3):
        buffer = io.BytesIO()
        pd.DataFrame({"id": [index * 10, index * 10 + 1], "x": [1.0, 2.5]}).to_parquet(buffer)
        g.put(bucket, f"spark-pq/part-{index}.parquet", buffer.getvalue())
    g.put(bucket, "spark-pq/_SUCCESS", "")
    text = spec_text(
        f"gs://{bucket}/spark-pq/part-*", sum_model, f"gs://{bucket}/spark-pq-out", fmt="PARQUET",
        features=["x"], passthrough=["id"],
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="spark_job"):
        result = run(spark, text)
    assert "gcsSource: reading 3 file(s) with Spark's PARQUET reader" in caplog.text
    assert result.rows_written == 6
    rows = sorted(g.json_lines(bucket, "spark-pq-out/"), key=lambda r: r["id"])
    assert [(r["id"], r["prediction"]) for r in rows] == [
        (0, 1.0), (1, 2.5), (10, 1.0), (11, 2.5), (20, 1.0), (21, 2.5)
    ]  # fmt: skip


def test_spark_reader_on_gs_without_the_gcs_connector_is_exit_2(
    bucket: str, sum_model: Path, tmp_path: Path
) -> None:
    """The connector's pitfall "No FileSystem for scheme gs": without the GCS connector jar
    (an empty ``SPARK_JOB_JARS_DIR``), ``reader: spark`` on gs:// is one message naming the
    field, exit 2, nothing written."""
    import os
    import subprocess
    import sys

    source = g.put(bucket, "no-connector/p.json", '{"id": 1, "x": 1.0}\n')
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        spec_text(source, sum_model, f"gs://{bucket}/no-connector-out", features=["x"]).replace(
            "  features:", "  options: {reader: spark}\n  features:"
        )
    )
    (tmp_path / "no-jars").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "spark_job", "--job-name", "no_gcs_connector",
         "--spec-path", str(spec), "--local"],
        capture_output=True, text=True, timeout=180,
        env={**os.environ, "SPARK_JOB_JARS_DIR": str(tmp_path / "no-jars")},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: gcsSource.options.reader: Spark cannot read gs:// without the gcs-connector jar;"
        " use reader: python (or auto)."
    ]
    assert "Traceback" not in proc.stderr
    assert g.listing(bucket, "no-connector-out") == []
