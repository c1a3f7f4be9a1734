"""``make run``: the job the design describes, on this machine and offline.

Starts a BigQuery emulator and a GCS emulator, loads scikit-learn's iris data into a BigQuery
table, trains and saves an MLflow model, runs ``conf/examples/iris_bigquery.yaml`` (BigQuery →
model → BigQuery through a GCS staging bucket) with the job's CLI in local mode, prints the
summary and a few rows read back, and stops the emulators. The job picks its BigQuery engine
itself (``engine: auto``: the spark-bigquery connector when its jar is in jars/, else the
storage-api engine) and logs which one read and which one wrote: the example shows those lines
of the job's log file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from examples.iris_model import FEATURES, KEY, flowers, train_model
from spark_job.dev.emulators import exported_emulators

EXAMPLE_DIR = Path("build/example-bigquery")
SPEC = Path("conf/examples/iris_bigquery.yaml")
PROJECT = "local-project"
SOURCE = f"{PROJECT}.iris.flowers"
RESULT = f"{PROJECT}.iris.flowers_scored"
BUCKET = "iris-staging"
LOG = EXAMPLE_DIR / "job.log"
REPORT = EXAMPLE_DIR / "report"  # the spec's report.path


def load_flowers() -> int:
    """Create the source table and the staging bucket; the number of rows loaded."""
    from google.cloud import bigquery

    from spark_job.bigquery.clients import bigquery_client
    from spark_job.storage.gcs import storage_client

    frame = flowers()
    client = bigquery_client(PROJECT)
    client.create_dataset(f"{PROJECT}.iris", exists_ok=True)
    schema = [bigquery.SchemaField(KEY, "STRING")]
    schema += [bigquery.SchemaField(name, "FLOAT64") for name in FEATURES[:-1]]
    schema += [bigquery.SchemaField(FEATURES[-1], "DATE")]
    client.delete_table(SOURCE, not_found_ok=True)
    client.create_table(bigquery.Table(SOURCE, schema=schema))
    rows = [
        {
            KEY: row[KEY],
            **{n: float(row[n]) for n in FEATURES[:-1]},
            FEATURES[-1]: str(row[FEATURES[-1]]),
        }
        for row in frame.to_dict("records")
    ]
    errors = client.insert_rows_json(SOURCE, rows)
    if errors:
        raise RuntimeError(f"could not load the iris rows: {errors[:3]}")
    storage_client().create_bucket(BUCKET)
    train_model(frame, EXAMPLE_DIR / "model")
    return len(rows)


def show_results() -> None:
    from spark_job.bigquery.clients import bigquery_client

    client = bigquery_client(PROJECT)
    table = client.get_table(RESULT)
    print(
        f"example: {RESULT}: {table.num_rows} rows,"
        f" columns {', '.join(f'{f.name} {f.field_type}' for f in table.schema)}"
    )
    query = f"SELECT * FROM `{RESULT}` ORDER BY {KEY} LIMIT 3"
    for row in client.query(query).result():
        print("example:", dict(row.items()))


def main() -> int:
    from spark_job.main import main as run_job

    print("example: starting the BigQuery and GCS emulators", flush=True)
    with exported_emulators(PROJECT, "spark_job_example_"):
        loaded = load_flowers()
        print(f"example: {loaded} rows in {SOURCE}, model in {EXAMPLE_DIR / 'model'},"
              f" spec {SPEC}", flush=True)  # fmt: skip
        LOG.unlink(missing_ok=True)
        code = run_job(["--job-name", "iris_bigquery", "--spec-path", str(SPEC), "--local",
                        "--log-file", str(LOG)])  # fmt: skip
        for line in LOG.read_text().splitlines() if LOG.exists() else []:
            if "BigQuery engine" in line:
                print("example:", line.split(": ", 1)[-1], f"(from {LOG})")
        if code == 0:
            show_results()
            report = REPORT / "report.html"
            print(f"example: job report: {report} (open it in a browser; data: report.json)")
    print("example: emulators stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
