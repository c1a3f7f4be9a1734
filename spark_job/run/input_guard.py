"""Never destroy input: a sink whose output is, contains or lies inside an input is refused.

Checked twice before anything is read, under every SaveMode: in preflight with what the spec
names (local paths, ``file://`` and ``gs://`` URIs with their wildcards, BigQuery table ids
with the default project — see :mod:`spark_job.storage.locations`), and in the runner, before
the sink looks at its output, with what only a service can tell (the tables a view reads).
The staging and error-record locations a file sink keeps next to its output
(``.<name>.staging-<run>``) are not outputs.
"""

from __future__ import annotations

from spark_job.errors import UserError
from spark_job.sinks import Sink
from spark_job.sources import SourceReader
from spark_job.storage.locations import Place, overlap


def _message(output: Place, relation: str, source: Place) -> str:
    if source.through:
        return (
            f"{output.field}: {output.shown} is read by the view of {source.field}"
            f" ('{source.shown}'); writing there would destroy the input. Choose another output."
        )
    return (
        f"{output.field}: {output.shown} {relation} the input of {source.field}"
        f" ('{source.shown}'); writing there would destroy it. Choose another output."
    )


def refuse_output_over_input(
    sink: Sink, source: SourceReader, recording: bool, *, look_up: bool = False
) -> None:
    """UserError when an output of ``sink`` meets an input of ``source``. ``recording``: the
    error records' destination counts too (RECORD_AND_CONTINUE); ``look_up``: also ask the
    source's service what it reads through (a view's base tables)."""
    outputs = sink.output_places(recording)
    inputs = source.input_places()
    kinds = {place.location.kind for place in outputs}
    if look_up and any(place.location.kind in kinds for place in inputs):
        inputs = [*inputs, *source.read_through()]
    for output in outputs:
        for place in inputs:
            relation = overlap(output.location, place.location)
            if relation:
                raise UserError(_message(output, relation, place))
