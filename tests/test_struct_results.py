"""Result types from the model: AUTO from the output schema, STRUCT results written to every
sink (one struct column, or flattened), through the runner and, once, through the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import cloudpickle
import fastavro
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from spark_job.run.runner import run_job
from spark_job.spec import parse_spec_text
from spark_job.storage import gcs
from tests.bq_helpers import create_dataset, run_sql
from tests.conftest import EMULATOR_PROJECT
from tests.models import save_pyfunc

cloudpickle.register_pickle_by_value(sys.modules[__name__])

DATASET = "struct_results"
BUCKET = "struct-staging"


class LabelAndProbability(mlflow.pyfunc.PythonModel):
    """A classifier wrapped to return its label and the probability of that label."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        x = model_input["x"].to_numpy(dtype=float)
        probability = 1.0 / (1.0 + np.exp(-x))
        return pd.DataFrame(
            {
                "label": np.where(probability >= 0.5, "yes", "no"),
                "probability": np.maximum(probability, 1.0 - probability),
            }
        )


class Doubled(mlflow.pyfunc.PythonModel):
    """One output column, a whole number: AUTO makes it LONG."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return (model_input["x"] * 2).astype("int64").to_numpy()


def _expected(xs: list[float]) -> list[dict[str, Any]]:
    out = []
    for x in xs:
        p = 1.0 / (1.0 + np.exp(-x))
        out.append({"label": "yes" if p >= 0.5 else "no", "probability": max(p, 1.0 - p)})
    return out


XS = [-2.0, 0.5, 3.0, -0.25]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("struct")
    pd.DataFrame({"id": range(len(XS)), "x": XS}).to_parquet(root / "in.parquet", index=False)
    inputs = Schema([ColSpec("double", "x")])
    two = ModelSignature(
        inputs=inputs,
        outputs=Schema([ColSpec("string", "label"), ColSpec("double", "probability")]),
    )
    save_pyfunc(root / "classifier", LabelAndProbability(), signature=two)
    one = ModelSignature(inputs=inputs, outputs=Schema([ColSpec("long")]))
    save_pyfunc(root / "doubled", Doubled(), signature=one)
    return {"root": root}


def _spec(env: dict[str, Path], sink: str, model: str = "classifier", result: str = "") -> Any:
    result_line = f", result: {result}" if result else ""
    return parse_spec_text(f"""
gcsSource: {{format: PARQUET, uri: {env["root"] / "in.parquet"}, passthrough: [id], features: [x]}}
model: {{uri: {env["root"] / model}{result_line}}}
{sink}
""")


def _by_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: row["id"])


def _check_structs(rows: list[dict[str, Any]]) -> None:
    got = [row["prediction"] for row in _by_id(rows)]
    expected = _expected(XS)
    assert [g["label"] for g in got] == [e["label"] for e in expected]
    assert np.allclose([g["probability"] for g in got], [e["probability"] for e in expected])


def test_auto_struct_to_json_parquet_and_avro(spark: Any, env: dict[str, Path]) -> None:
    root = env["root"]
    for fmt in ("JSON", "PARQUET", "AVRO"):
        out = root / f"out_{fmt.lower()}"
        run_job(spark, _spec(env, f"gcsSink: {{format: {fmt}, uri: {out}}}"), "structs", fmt)
        if fmt == "JSON":
            rows = [json.loads(line) for p in out.glob("prediction.results-*")
                    for line in p.read_text().splitlines()]  # fmt: skip
            assert all(isinstance(row["prediction"], dict) for row in rows)  # a JSON object
        elif fmt == "PARQUET":
            table = pq.read_table(out)
            assert pa.types.is_struct(table.schema.field("prediction").type)
            rows = table.to_pylist()
        else:
            rows = []
            for path in out.glob("*.avro"):
                with open(path, "rb") as handle:
                    reader = fastavro.reader(handle)
                    field = next(f for f in reader.writer_schema["fields"]
                                 if f["name"] == "prediction")  # fmt: skip
                    assert "record" in json.dumps(field["type"])  # an Avro record
                    rows += list(reader)
        assert [set(row) for row in rows][0] == {"id", "x", "prediction"}
        _check_structs(rows)


def test_flattened_struct_to_csv(spark: Any, env: dict[str, Path]) -> None:
    out = env["root"] / "out_csv"
    spec = _spec(env, f"gcsSink: {{format: CSV, uri: {out}}}", result="{flatten: true}")
    run_job(spark, spec, "flat", "csv")
    frame = pd.concat(pd.read_csv(p) for p in out.glob("*.csv")).sort_values("id")
    assert list(frame.columns) == ["id", "x", "prediction_label", "prediction_probability"]
    expected = _expected(XS)
    assert frame["prediction_label"].tolist() == [e["label"] for e in expected]
    assert np.allclose(frame["prediction_probability"], [e["probability"] for e in expected])


def test_declared_fields_and_a_single_output(spark: Any, env: dict[str, Path]) -> None:
    """Fields given in the spec (a subset, in the spec's order); one LONG output from AUTO."""
    out = env["root"] / "out_declared"
    result = "{type: STRUCT, fields: [{name: probability, type: FLOAT}]}"
    spec = _spec(env, f"gcsSink: {{format: PARQUET, uri: {out}}}", result=result)
    run_job(spark, spec, "declared", "d1")
    table = pq.read_table(out)
    assert table.schema.field("prediction").type == pa.struct([("probability", pa.float32())])
    single = env["root"] / "out_single"
    run_job(spark, _spec(env, f"gcsSink: {{format: PARQUET, uri: {single}}}", "doubled"), "s", "s")
    table = pq.read_table(single)
    assert table.schema.field("prediction").type == pa.int64()
    assert sorted(table.column("prediction").to_pylist()) == sorted(int(x * 2) for x in XS)


def test_struct_to_bigquery_as_a_record(spark: Any, env: dict[str, Path], emulators: Any) -> None:
    create_dataset(DATASET)
    storage = gcs.client()
    if storage.lookup_bucket(BUCKET) is None:
        storage.create_bucket(BUCKET)
    table = f"{EMULATOR_PROJECT}.{DATASET}.scored"
    sink = f"bigquerySink: {{table: {table}, staging_bucket: {BUCKET}}}"
    run_job(spark, _spec(env, sink), "struct_bq", "b1")
    [field] = [f for f in _bq_table(table).schema if f.name == "prediction"]
    assert field.field_type in ("RECORD", "STRUCT")
    assert [sub.name for sub in field.fields] == ["label", "probability"]
    rows = run_sql(
        f"SELECT id, prediction.label AS label, prediction.probability AS probability"
        f" FROM `{table}`"
    )
    got = [{"id": r["id"], "prediction": {"label": r["label"], "probability": r["probability"]}}
           for r in rows]  # fmt: skip
    _check_structs(got)


def _bq_table(table: str) -> Any:
    from tests.bq_helpers import bq_client

    return bq_client().get_table(table)


def test_a_struct_the_model_does_not_return_is_exit_2(
    env: dict[str, Path], tmp_path: Path, cli_in_process: Any
) -> None:
    """Through the CLI: the message names the field, and nothing is written."""
    out = tmp_path / "never"
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""
gcsSource: {{format: PARQUET, uri: {env["root"] / "in.parquet"}, features: [x]}}
model:
  uri: {env["root"] / "classifier"}
  result: {{type: STRUCT, fields: [{{name: score, type: DOUBLE}}]}}
gcsSink: {{format: JSON, uri: {out}}}
""")
    proc = cli_in_process("--job-name", "struct-cli", "--spec-path", str(spec), "--local",
                          "--progress-interval", "0")  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: model.result.fields: the model's output has no column score")
    assert not out.exists()
