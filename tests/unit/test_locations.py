"""Never destroy input: which outputs meet which inputs (no Spark, no service)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from spark_job.bigquery.table_id import TableId, parse_table_id
from spark_job.bigquery.views import base_tables, tables_in_sql
from spark_job.storage.locations import input_location, output_location, overlap

CASES = [
    # output, input, relation
    ("/data/in", "/data/in", "is"),
    ("/data/in/", "/data/in", "is"),
    ("/data/in", "/data/in/", "is"),
    ("/data/in", "/data/in/*", "is"),
    ("/data", "/data/in", "contains"),
    ("/data", "/data/in/*", "contains"),
    ("/", "/data/in", "contains"),
    ("/data/in/out", "/data/in", "lies inside"),
    ("/data/in/out", "/data/in/*", "lies inside"),
    ("/data/in/a/b", "/data/in/*", "lies inside"),
    ("/data/pred", "/data/pre*", "lies inside"),
    ("/data/pre", "/data/pre*", "lies inside"),
    ("/data", "/data/pre*", "contains"),
    ("/data/other", "/data/pre*", None),
    ("/data/input", "/data/in", None),  # a sibling sharing a prefix
    ("/data/in", "/data/input", None),
    ("/data/input", "/data/in/*", None),
    ("/data/in.json", "/data/in", None),
    ("/elsewhere/in", "/data/in", None),
    ("file:///data/in", "/data/in/*", "is"),
    ("/data/in", "file:///data/in", "is"),
    ("file:///data/in/x", "file:///data/in/*", "lies inside"),
    ("/data/in/../in", "/data/in", "is"),
    ("gs://b/in", "gs://b/in", "is"),
    ("gs://b/in", "gs://b/in/", "is"),
    ("gs://b/in/", "gs://b/in/*", "is"),
    ("gs://b/in/x", "gs://b/in/*", "lies inside"),
    ("gs://b/data", "gs://b/data/in/*", "contains"),
    ("gs://b/pred", "gs://b/pre*", "lies inside"),
    ("gs://b/x/y", "gs://b/*", "lies inside"),
    ("gs://b/x", "gs://b", "lies inside"),
    ("gs://b/input", "gs://b/in", None),
    ("gs://b/input", "gs://b/in/*", None),
    ("gs://b/other", "gs://b/pre*", None),
    ("gs://c/in", "gs://b/in", None),  # another bucket
    ("gs://b/data/in", "/data/in", None),  # another store
    ("/b/in", "gs://b/in", None),
]


@pytest.mark.parametrize(("output", "source", "relation"), CASES)
def test_overlap(output: str, source: str, relation: str | None) -> None:
    assert overlap(output_location(output), input_location(source)) == relation


def test_symlinks_are_resolved(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "in").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    assert overlap(output_location(str(tmp_path / "link" / "in")), input_location(f"{real}/in/*"))
    assert overlap(output_location(f"{real}/in"), input_location(f"{tmp_path}/link/in")) == "is"
    assert overlap(output_location(f"{tmp_path}/link"), input_location(f"{real}/in")) == "contains"


def test_relative_paths_are_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert overlap(output_location("in"), input_location(f"{tmp_path}/in/*")) == "is"
    assert overlap(output_location("./data"), input_location("data/in")) == "contains"


def test_bigquery_table_ids_are_compared_after_normalising() -> None:
    sink = parse_table_id("proj:ds.t", "bigquerySink.table", None).location
    assert overlap(sink, parse_table_id("ds.t", "bigquerySource.table", "proj").location) == "is"
    assert overlap(sink, parse_table_id("`proj.ds.t`", "x", None).location) == "is"
    assert overlap(sink, parse_table_id("ds.t", "x", "other").location) is None
    assert overlap(sink, parse_table_id("proj.ds.t2", "x", None).location) is None
    assert overlap(sink, parse_table_id("proj.ds2.t", "x", None).location) is None


def test_tables_named_in_a_view_query() -> None:
    sql = (
        "WITH recent AS (SELECT * FROM `p.d.events` WHERE day > '2024-01-01')"
        " SELECT * FROM recent JOIN d2.users u ON TRUE LEFT JOIN `q`.`d`.`v` USING (id)"
        " WHERE id IN (SELECT id FROM (SELECT 1 AS id)) AND x IN UNNEST([1])"
        " UNION ALL SELECT * FROM p:d3.old"
    )
    assert tables_in_sql(sql, "home") == {
        TableId("p", "d", "events"), TableId("home", "d2", "users"), TableId("q", "d", "v"),
        TableId("p", "d3", "old"),
    }  # fmt: skip


class _FakeClient:
    """``get_table`` and dry runs as BigQuery answers them, from ``views`` (id → query)."""

    def __init__(self, views: dict[str, str], referenced: dict[str, list[str]] | None = None):
        self.views = views
        self.referenced = referenced or {}

    def get_table(self, table_id: str, retry: Any = None) -> Any:
        kind = "VIEW" if table_id in self.views else "TABLE"
        return SimpleNamespace(table_type=kind, view_query=self.views.get(table_id) or None)

    def query(self, sql: str, job_config: Any = None, location: Any = None) -> Any:
        view = sql.split("`")[1]
        refs = [
            SimpleNamespace(project=p, dataset_id=d, table_id=t)
            for p, d, t in (name.split(".") for name in self.referenced.get(view, []))
        ]
        return SimpleNamespace(referenced_tables=refs)


def test_base_tables_of_a_view_through_nested_views() -> None:
    views = {"p.d.v": "SELECT * FROM d.inner_view", "p.d.inner_view": "SELECT * FROM `p.d.t`"}
    client = _FakeClient(views)
    found = base_tables(client, TableId("p", "d", "v"))
    assert found == {TableId("p", "d", "inner_view"), TableId("p", "d", "t")}
    assert base_tables(client, TableId("p", "d", "t")) == set()  # a table reads itself


def test_base_tables_from_a_dry_run_and_unknown_when_nothing_tells() -> None:
    client = _FakeClient({"p.d.v": ""}, {"p.d.v": ["p.d.hidden"]})
    assert base_tables(client, TableId("p", "d", "v")) == {TableId("p", "d", "hidden")}
    assert base_tables(_FakeClient({"p.d.v": ""}), TableId("p", "d", "v")) is None


def test_the_runner_finds_a_view_over_the_sink_table() -> None:
    from spark_job.errors import UserError
    from spark_job.run.input_guard import refuse_output_over_input
    from spark_job.sinks import open_sink
    from spark_job.sources import open_source
    from spark_job.spec import parse_spec_text

    spec = parse_spec_text("""
bigquerySource: {table: p.d.v, options: {parentProject: p}}
model: {uri: /m}
bigquerySink: {table: "p:d.t", staging_bucket: b, options: {parentProject: p}}
""")
    sink, source = open_sink(spec, "job", "run1"), open_source(spec)
    refuse_output_over_input(sink, source, recording=False)  # by the spec alone: apart
    source._client = _FakeClient({"p.d.v": "SELECT * FROM `p.d.t` WHERE x > 0"})  # type: ignore[attr-defined]
    with pytest.raises(UserError) as raised:
        refuse_output_over_input(sink, source, recording=False, look_up=True)
    assert str(raised.value) == (
        "bigquerySink.table: table p.d.t is read by the view of bigquerySource.table ('p.d.v');"
        " writing there would destroy the input. Choose another output."
    )
