"""Patches that make bqemulator's load jobs and DML run like real BigQuery's where the
spark-bigquery connector needs it (development only; applied by ``bq_emulator_main`` in the
emulator's process, beside :mod:`spark_job.dev.bq_emulator_patches`):

================================  =========================================================
patch                             real BigQuery behaviour restored
================================  =========================================================
``_patch_load_statistics``        load statistics: inputFiles, inputFileBytes, outputRows,
                                  outputBytes
``_patch_merge_insert_row``       ``MERGE ... WHEN NOT MATCHED THEN INSERT ROW`` runs
``_patch_avro_orc_loads``         load jobs read Avro (snappy too) and ORC files, offline
``_patch_load_table_layout``      a load creates its table with the load's partitioning and
                                  clustering; ALLOW_FIELD_ADDITION adds the new columns;
                                  Parquet columns match by name
================================  =========================================================
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable
from typing import Any

from spark_job.dev.bq_emulator_patches import rebind, replace_attribute

# -- load job statistics --------------------------------------------------------------------


def _count_rows(ctx: Any, project: str, dataset: str, table: str) -> int:
    from bqemulator.storage.sql_identifiers import quoted_table_ref

    if ctx.catalog.get_table(project, dataset, table) is None:
        return 0
    row = ctx.engine.execute(f"SELECT COUNT(*) FROM {quoted_table_ref(project, dataset, table)}")
    return int(row.fetchone()[0])


def _patch_load_statistics() -> None:
    """Real BigQuery's ``statistics.load`` has ``inputFiles``, ``inputFileBytes``,
    ``outputRows`` (the rows this job loaded) and ``outputBytes``, all int64 strings.
    bqemulator gave only ``outputRows``, and as the table's total: the connector's indirect
    write unboxes ``outputBytes`` after the load and failed with a NullPointerException on a
    load that had succeeded. ``outputBytes`` here is an estimate: the input files' size."""
    from bqemulator.jobs import executor

    execute_load_job = executor.execute_load_job

    async def execute_load_job_with_statistics(
        project_id: str, job_id: str, config: dict[str, Any], ctx: Any
    ) -> Any:
        load = config.get("load", {})
        destination = load.get("destinationTable", {})
        where = (
            destination.get("projectId", project_id),
            destination.get("datasetId", ""),
            destination.get("tableId", ""),
        )
        truncate = load.get("writeDisposition") == "WRITE_TRUNCATE"
        before = 0 if truncate else _count_rows(ctx, *where)
        meta = await execute_load_job(project_id, job_id, config, ctx)
        statistics = dict(meta.statistics or {})
        if meta.state != "DONE" or "load" not in statistics:
            return meta
        files = set()
        for uri in load.get("sourceUris", []):
            path = executor._resolve_uri(uri, ctx)
            files.update(glob.glob(path) if "*" in path else [path])
        sizes = [_file_size(path) for path in files]
        loaded = int(statistics["load"].get("outputRows", 0)) - before
        statistics["load"] = {
            **statistics["load"],
            "inputFiles": str(len(files)),
            "inputFileBytes": str(sum(sizes)),
            "outputRows": str(max(loaded, 0)),
            "outputBytes": str(sum(sizes)),
        }
        return meta.model_copy(update={"statistics": statistics})

    replace_attribute(executor, "execute_load_job", execute_load_job_with_statistics)
    rebind(execute_load_job, execute_load_job_with_statistics)


def _file_size(path: str) -> int:
    import os

    try:
        return os.path.getsize(path)
    except OSError:
        return 0


# -- 5. MERGE ... INSERT ROW -------------------------------------------------------------------

_INSERT_ROW = re.compile(r"\bTHEN\s+INSERT\s+ROW\b", re.IGNORECASE)


def _patch_merge_insert_row() -> None:
    """BigQuery's ``MERGE ... WHEN NOT MATCHED THEN INSERT ROW`` (insert every column of the
    source row) is DuckDB's ``INSERT *``; bqemulator's translation kept ``INSERT ROW`` and
    DuckDB refused it. The connector's direct write runs such a MERGE for OVERWRITE."""
    from bqemulator.domain.result import Ok
    from bqemulator.sql.translator import SQLTranslator

    translate = SQLTranslator.translate

    def translate_insert_row(self: Any, bq_sql: str, **kwargs: Any) -> Any:
        result = translate(self, bq_sql, **kwargs)
        if isinstance(result, Ok) and _INSERT_ROW.search(result.value):
            return Ok(_INSERT_ROW.sub("THEN INSERT *", result.value))
        return result

    replace_attribute(SQLTranslator, "translate", translate_insert_row)


# -- 6. load jobs read Avro and ORC ------------------------------------------------------------


def _varint(read: Callable[[int], bytes]) -> int:
    """An unsigned base-128 varint (little-endian groups of 7 bits)."""
    value = shift = 0
    while True:
        byte = read(1)[0]
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value


def _snappy_block(source: Any) -> Any:
    """Read one snappy Avro block (zigzag length, raw snappy data, CRC-32) from ``source``,
    fastavro's file object, or its decoder in fastavro's pure-Python build."""
    import io

    import pyarrow as pa

    if hasattr(source, "read_long"):
        length = source.read_long()
        data, _ = source.read_fixed(length - 4), source.read_fixed(4)
    else:
        zigzag = _varint(source.read)
        length = (zigzag >> 1) ^ -(zigzag & 1)
        data, _ = source.read(length - 4), source.read(4)
    size = _varint(io.BytesIO(data).read)  # snappy's preamble: the uncompressed size
    return io.BytesIO(pa.decompress(data, decompressed_size=size, codec="snappy", asbytes=True))


def _patch_avro_orc_loads() -> None:
    """BigQuery loads Avro and ORC files; bqemulator loads Avro through DuckDB's avro
    extension, which DuckDB downloads at first use (there is no network here), and ORC
    through ``pyorc``, an extra not installed. The connector's indirect write stages Avro or
    ORC with ``intermediateFormat``. Both now read through pyarrow (fastavro for Avro, which
    bqemulator already uses for decimal Avro files; Spark's default Avro codec, snappy,
    decompressed by pyarrow), matching columns by name as BigQuery does.
    """
    import fastavro.read
    from bqemulator.jobs import executor
    from bqemulator.jobs.avro_reader import read_avro_to_arrow

    fastavro.read.BLOCK_READERS["snappy"] = _snappy_block

    def reader(read: Callable[[str], Any]) -> Callable[[str, str, Any], None]:
        def load(path: str, target_ref: str, ctx: Any) -> None:
            import pyarrow as pa

            paths = sorted(glob.glob(path)) if "*" in path else [path]
            table = pa.concat_tables([read(p) for p in paths]) if paths else None
            if table is None:
                return
            view = "__bqemu_file_load"
            ctx.engine.connection.register(view, table)
            try:
                ctx.engine.execute(f"INSERT INTO {target_ref} BY NAME SELECT * FROM {view}")
            finally:
                ctx.engine.connection.unregister(view)

        return load

    def read_orc(path: str) -> Any:
        from pyarrow import orc

        return orc.read_table(path)

    handlers = executor._LOAD_FORMAT_HANDLERS
    if "AVRO" not in handlers or "ORC" not in handlers:
        raise RuntimeError("bqemulator changed: no AVRO/ORC load handlers")
    handlers["AVRO"] = reader(read_avro_to_arrow)
    handlers["ORC"] = reader(read_orc)


# -- a load's table: partitioning, clustering, new columns, Parquet by name ------------------


def _layout(load: dict[str, Any]) -> dict[str, Any]:
    """The table settings of a ``configuration.load`` block, as bqemulator's TableMeta keys."""
    from bqemulator.catalog.models import Clustering, RangePartitioning, TimePartitioning

    layout: dict[str, Any] = {}
    time = load.get("timePartitioning")
    if time:
        expiration = time.get("expirationMs")
        layout["time_partitioning"] = TimePartitioning(
            type=time.get("type", "DAY"),
            field=time.get("field"),
            expiration_ms=int(expiration) if expiration is not None else None,
            require_partition_filter=bool(time.get("requirePartitionFilter", False)),
        )
    ranged = load.get("rangePartitioning")
    if ranged:
        bounds = ranged.get("range", {})
        layout["range_partitioning"] = RangePartitioning(
            field=ranged["field"], start=int(bounds["start"]), end=int(bounds["end"]),
            interval=int(bounds["interval"]),
        )  # fmt: skip
    clustering = load.get("clustering")
    if clustering and clustering.get("fields"):
        layout["clustering"] = Clustering(fields=tuple(clustering["fields"]))
    return layout


def _new_columns(job: Any, ctx: Any, meta: Any) -> list[Any]:
    """The fields a load brings that the table lacks: from the load's schema, else (the
    connector sends none on an APPEND) from the Parquet files' own columns."""
    from bqemulator.api.routes.tables import _parse_schema_fields
    from bqemulator.storage.type_map import duckdb_type_to_bq_field

    have = {field.name.lower() for field in meta.schema_.fields}
    declared = (job.raw_config.get("schema") or {}).get("fields") or []
    if not declared and job.source_format == "PARQUET" and job.source_uris:
        from bqemulator.jobs import executor

        path = executor._resolve_uri(job.source_uris[0], ctx)
        described = ctx.engine.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path])
        declared = [duckdb_type_to_bq_field(row[0], row[1]) for row in described.fetchall()]
    return [field for field in _parse_schema_fields(declared) if field.name.lower() not in have]


def _patch_load_table_layout() -> None:
    """Real BigQuery creates a load's destination with the load's ``timePartitioning``,
    ``rangePartitioning`` and ``clustering``; under ``schemaUpdateOptions:
    ALLOW_FIELD_ADDITION`` it adds the columns the load brings; and it matches Parquet columns
    by name. bqemulator kept none of the layout (the connector creates a partitioned or
    clustered table through its load job), refused new columns ("table has 3 columns but 4
    values were supplied") and matched Parquet columns by position."""
    from bqemulator.api.routes.tables import _field_to_rest
    from bqemulator.catalog.models import TableSchema
    from bqemulator.jobs import executor
    from bqemulator.storage.type_map import bq_schema_to_duckdb_columns

    create = executor._maybe_create_load_destination

    def create_with_layout(**arguments: Any) -> None:
        create(**arguments)
        ctx = arguments["ctx"]
        where = (arguments["dest_project"], arguments["dest_dataset"], arguments["dest_table_id"])
        meta = ctx.catalog.get_table(*where)
        layout = _layout(arguments["load_config"])
        if meta is not None and layout:
            ctx.catalog.update_table(meta.model_copy(update=layout))

    disposition = executor._apply_load_write_disposition

    def with_field_addition(job: Any, ctx: Any) -> None:
        options = job.raw_config.get("schemaUpdateOptions") or []
        meta = ctx.catalog.get_table(job.project_id, job.dataset_id, job.table_id)
        if "ALLOW_FIELD_ADDITION" in options and meta is not None:
            added = _new_columns(job, ctx, meta)
            columns = bq_schema_to_duckdb_columns([_field_to_rest(f) for f in added])
            for name, duckdb_type in columns:
                ctx.engine.execute(
                    f'ALTER TABLE {job.target_ref} ADD COLUMN "{name}" {duckdb_type}'
                )
            if added:
                schema = TableSchema(fields=(*meta.schema_.fields, *added))
                ctx.catalog.update_table(meta.model_copy(update={"schema_": schema}))
        disposition(job, ctx)

    def load_parquet_by_name(path: str, target_ref: str, ctx: Any) -> None:
        ctx.engine.execute(
            f"INSERT INTO {target_ref} BY NAME SELECT * FROM read_parquet(?)", [path]
        )

    replace_attribute(executor, "_maybe_create_load_destination", create_with_layout)
    replace_attribute(executor, "_apply_load_write_disposition", with_field_addition)
    if "PARQUET" not in executor._LOAD_FORMAT_HANDLERS:
        raise RuntimeError("bqemulator changed: no PARQUET load handler")
    executor._LOAD_FORMAT_HANDLERS["PARQUET"] = load_parquet_by_name


def apply() -> None:
    """Apply every patch of this module; call in the emulator's process before it serves."""
    import bqemulator.server  # noqa: F401 - loads every module whose bindings are patched

    _patch_load_statistics()
    _patch_merge_insert_row()
    _patch_avro_orc_loads()
    _patch_load_table_layout()
