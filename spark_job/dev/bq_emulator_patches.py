"""Patches that make bqemulator answer like real BigQuery where the spark-bigquery connector
needs it (development only; applied by ``bq_emulator_main`` in the emulator's process).

Each gap was seen with the real connector jar (``spark-3.5-bigquery:0.42.1``) against
bqemulator 1.4; each patch restores one documented behaviour of the real service:

================================  =========================================================
patch                             real BigQuery behaviour restored
================================  =========================================================
``_patch_arrow_schema``           ``ReadSession.arrow_schema`` is one encapsulated IPC message
``_patch_legacy_type_names``      REST schemas use legacy type names (INTEGER, FLOAT, RECORD)
``_patch_rest_view_schema``       a view made with ``tables.insert`` has its query's schema
``_patch_readable_query_result``  a query job's anonymous destination table can be read
================================  =========================================================

Load jobs and DML: :mod:`spark_job.dev.bq_emulator_jobs`.

They reach into bqemulator's private functions, so :func:`apply` checks that each one it
replaces exists and fails at start (naming it) when a bqemulator release has moved it; the
tests in ``tests/test_dev_emulators.py`` check each behaviour through Google's clients.
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Callable
from typing import Any

#: Standard-SQL names that BigQuery's REST API spells with their legacy names.
LEGACY_TYPE_NAMES = {
    "INT64": "INTEGER",
    "FLOAT64": "FLOAT",
    "BOOL": "BOOLEAN",
    "STRUCT": "RECORD",
    "DECIMAL": "NUMERIC",
    "BIGDECIMAL": "BIGNUMERIC",
}

#: The dataset under which bqemulator names a query job's anonymous destination table.
ANONYMOUS_DATASET = "_bqemu_anonymous"


def replace_attribute(module: Any, name: str, new: Any) -> Any:
    """Set ``module.name`` to ``new`` and return the original (which must exist)."""
    original = getattr(module, name, None)
    if original is None:
        raise RuntimeError(f"bqemulator changed: {module.__name__}.{name} is gone")
    setattr(module, name, new)
    return original


def rebind(original: Any, new: Any) -> None:
    """Point every loaded ``bqemulator`` module that imported ``original`` by name at
    ``new`` (``from x import f`` copies the binding into the importing module)."""
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("bqemulator") or module is None:
            continue
        for attribute, value in list(vars(module).items()):
            if value is original:
                setattr(module, attribute, new)


# -- 1. ReadSession.arrow_schema ---------------------------------------------------------------


def arrow_schema_message(schema: Any) -> bytes:
    """The schema as one encapsulated Arrow IPC message, as BigQuery sends it.

    bqemulator sent a whole IPC stream (schema message + the 8-byte end-of-stream marker).
    The connector's Java reader joins ``serialized_schema`` and each
    ``serialized_record_batch`` into one stream, so it met the end-of-stream marker before the
    first batch: every ARROW read returned 0 rows, with no error.
    """
    return bytes(schema.serialize())


def _patch_arrow_schema() -> None:
    from bqemulator.streaming import read_session

    replace_attribute(read_session, "_serialise_arrow_schema", arrow_schema_message)


# -- 2. legacy type names in REST schemas -----------------------------------------------------


def legacy_schema_fields(fields: list[Any]) -> None:
    """Rename, in place and recursively, standard-SQL type names to BigQuery's REST names."""
    for field in fields:
        if not isinstance(field, dict):
            continue
        kind = field.get("type")
        if isinstance(kind, str):
            field["type"] = LEGACY_TYPE_NAMES.get(kind.upper(), kind.upper())
        if isinstance(field.get("fields"), list):
            legacy_schema_fields(field["fields"])


def legacy_type_names(node: Any) -> None:
    """Apply :func:`legacy_schema_fields` to every ``schema: {fields: [...]}`` in a REST
    body (table resources, query results, job configurations), skipping result rows."""
    if isinstance(node, dict):
        for key, value in node.items():
            if (
                key == "schema"
                and isinstance(value, dict)
                and isinstance(value.get("fields"), list)
            ):
                legacy_schema_fields(value["fields"])
            elif key != "rows":
                legacy_type_names(value)
    elif isinstance(node, list):
        for item in node:
            legacy_type_names(item)


class LegacyTypeNames:
    """ASGI middleware: REST schemas carry BigQuery's legacy type names.

    Real BigQuery answers ``INTEGER``, ``FLOAT``, ``BOOLEAN``, ``RECORD`` in every schema it
    returns (``tables.get``/``insert``/``patch``, ``jobs.get``, query results), whatever names
    the table was created with; bqemulator echoes the names it was given (``INT64`` ...). The
    connector's Java client maps the name to a ``LegacySQLTypeName``: for ``INT64`` one whose
    standard type is null (NullPointerException when the connector converts the schema), for
    ``STRUCT`` one that may not have sub-fields ("Only RECORD fields can have sub-fields").
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or "/bigquery/v2/" not in scope["path"]:
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def rewrite(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            renamed = _with_legacy_names(body, start.get("headers", []))
            if renamed is not body:
                headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                start["headers"] = [*headers, (b"content-length", str(len(renamed)).encode())]
            await send(start)
            await send({"type": "http.response.body", "body": renamed})

        await self.app(scope, receive, rewrite)


def _with_legacy_names(body: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    import json

    fields = {k.lower(): v for k, v in headers}
    if b"json" not in fields.get(b"content-type", b"") or b"content-encoding" in fields:
        return body
    if b'"schema"' not in body:
        return body
    try:
        document = json.loads(body)
    except ValueError:
        return body
    legacy_type_names(document)
    return json.dumps(document, separators=(",", ":")).encode()


def _patch_legacy_type_names() -> None:
    import bqemulator.server

    create_app = bqemulator.server.create_app

    def create_app_with_legacy_names(context: Any) -> Any:
        app = create_app(context)
        app.add_middleware(LegacyTypeNames)
        return app

    replace_attribute(bqemulator.server, "create_app", create_app_with_legacy_names)


# -- 3a. a view made through tables.insert has a schema ---------------------------------------


async def _view_schema(ctx: Any, project: str, dataset: str, table: str) -> list[Any] | None:
    """The REST schema of the view's query (a ``LIMIT 0`` query of the view), or None."""
    from bqemulator.jobs import executor
    from bqemulator.row_access.identity import CallerIdentity

    caller = CallerIdentity(principal="user:anonymous@bqemulator.local", is_authenticated=False)
    sql = f"SELECT * FROM `{project}.{dataset}.{table}` LIMIT 0"
    try:
        result = await executor._run_single_sql(project, sql, None, ctx, caller=caller)
    except Exception as error:  # a view that does not run keeps no schema, as before
        print(f"bq_emulator_patches: no schema for view {table}: {error}", file=sys.stderr)
        return None
    return executor.build_response_schema(result.schema)


def _with_view_schema(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a tables route (insert, patch, update) so that a view it answers gets the schema
    of its query.

    Real BigQuery derives a view's schema from its query when the view is created through
    ``tables.insert`` with ``view.query`` (``CREATE VIEW`` DDL already had one here);
    bqemulator left such a view without a schema, and the connector then reads it as a
    table with no columns.
    """
    from bqemulator.api.routes import tables
    from bqemulator.catalog.models import TableSchema

    async def endpoint(**arguments: Any) -> Any:
        answer = await original(**arguments)
        if answer.get("type") != "VIEW" or (await arguments["request"].json()).get("schema"):
            return answer  # a schema given with the view (e.g. descriptions) is kept
        ctx, reference = arguments["ctx"], answer["tableReference"]
        project, dataset, table = (reference[k] for k in ("projectId", "datasetId", "tableId"))
        schema = await _view_schema(ctx, project, dataset, table)
        meta = ctx.catalog.get_table(project, dataset, table)
        if not schema or meta is None:
            return answer
        fields = TableSchema(fields=tables._parse_schema_fields(schema))
        return tables._table_to_rest(
            ctx.catalog.update_table(meta.model_copy(update={"schema_": fields}))
        )

    # FastAPI reads the parameters (path, body, dependencies) from the signature.
    endpoint.__signature__ = inspect.signature(original, eval_str=True)  # type: ignore
    endpoint.__name__ = original.__name__
    return endpoint


def _replace_endpoint(router: Any, original: Any, replacement: Any) -> None:
    """Swap ``original`` for ``replacement`` in ``router``, same path, method, position."""
    from fastapi.routing import APIRoute

    for index, route in enumerate(router.routes):
        if isinstance(route, APIRoute) and route.endpoint is original:
            del router.routes[index]
            router.add_api_route(
                route.path.removeprefix(router.prefix),
                replacement,
                methods=sorted(route.methods),
                status_code=route.status_code,
                name=route.name,
            )
            router.routes.insert(index, router.routes.pop())
            return
    raise RuntimeError(f"bqemulator changed: no route for {original.__name__}")


def _patch_rest_view_schema() -> None:
    from bqemulator.api.routes import tables

    for name in ("insert_table", "patch_table", "update_table"):
        original = getattr(tables, name)
        _replace_endpoint(tables.router, original, _with_view_schema(original))


# -- 3b. a query job's anonymous destination table is readable --------------------------------


def anonymous_job_id(table_id: str) -> str | None:
    """The id of the query job whose anonymous destination table is ``table_id``
    (bqemulator names it ``anon`` + the job id without hyphens)."""
    from bqemulator.jobs.executor import JOB_RESULTS

    flat = table_id.removeprefix("anon")
    for job_id in list(JOB_RESULTS):
        if job_id.replace("-", "") == flat:
            return job_id
    return None


_materializing = threading.Lock()


def _materialize_query_result(ctx: Any, project: str, table_id: str) -> None:
    """Copy a finished query job's result into DuckDB as ``_bqemu_anonymous.<table_id>``,
    where the Storage Read API looks for it (once per table)."""
    from bqemulator.jobs.executor import JOB_RESULTS
    from bqemulator.storage.sql_identifiers import quoted_schema, quoted_table_ref

    job_id = anonymous_job_id(table_id)
    if job_id is None:
        return
    target = quoted_table_ref(project, ANONYMOUS_DATASET, table_id)
    view = f"__bqemu_result_{table_id}"
    with _materializing:
        engine = ctx.engine
        engine.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted_schema(project, ANONYMOUS_DATASET)}")
        engine.connection.register(view, JOB_RESULTS[job_id])
        try:
            engine.execute(f'CREATE TABLE IF NOT EXISTS {target} AS SELECT * FROM "{view}"')
        finally:
            engine.connection.unregister(view)


def _patch_readable_query_result() -> None:
    """Real BigQuery writes every query's result to a table (the job's destination, an
    anonymous table when the query named none) that the Storage Read API can read. The
    connector reads a view (``viewsEnabled``) exactly so: a query job, then a read session on
    its destination. bqemulator kept results in memory only, so the read session failed
    with NOT_FOUND; the result is now copied into DuckDB on the first read session."""
    from bqemulator.grpc_api.read_servicer import BigQueryReadHandler, _parse_table_path

    create_read_session = BigQueryReadHandler._handle_create_read_session

    def handle_create_read_session(self: Any, request_bytes: bytes, context: Any) -> bytes:
        from google.cloud.bigquery_storage_v1 import types

        request = types.CreateReadSessionRequest.deserialize(request_bytes)
        parsed = _parse_table_path(request.read_session.table)
        if parsed is not None and parsed[1] == ANONYMOUS_DATASET:
            _materialize_query_result(self._ctx, parsed[0], parsed[2])
        return create_read_session(self, request_bytes, context)

    replace_attribute(
        BigQueryReadHandler, "_handle_create_read_session", handle_create_read_session
    )


def apply() -> None:
    """Apply every patch; call in the emulator's process before the server starts."""
    import bqemulator.server  # noqa: F401 - loads every module whose bindings are patched

    _patch_arrow_schema()
    _patch_legacy_type_names()
    _patch_rest_view_schema()
    _patch_readable_query_result()
