"""What the job checks before a SparkSession starts: a user error there costs no cluster time.

The sink and source are built from the spec — table ids, buckets, output folders, the job name
a BigQuery load job is named after, every option the job reads itself — exactly as the runner
builds them later, an output that would be written over an input is refused
(:mod:`spark_job.run.input_guard`), and the model is found and its signature read
(``model.params`` checked against it); what needs Spark or a service (the SaveMode against the
existing output, the connector on the class path, a view's base tables, the input's schema
against the signature) comes after, in the runner.
"""

from __future__ import annotations

from spark_job.run.input_guard import refuse_output_over_input
from spark_job.run.reference import refuse_output_over_reference
from spark_job.scoring.signature import ModelPlan, plan_model
from spark_job.sinks import Sink, open_sink
from spark_job.sources import SourceReader, open_source
from spark_job.spec import ErrorMode, JobSpec


def preflight(spec: JobSpec, job_name: str, run_id: str) -> tuple[Sink, SourceReader, ModelPlan]:
    """The job's sink, source and model plan, checked: UserError for anything wrong in ``spec``
    that can be told without Spark. The runner takes them as they are (building them can look
    up the default project, which may ask the metadata server; the model may be downloaded)."""
    sink = open_sink(spec, job_name, run_id)
    source = open_source(spec)
    source.check_options()
    recording = spec.error_handling.mode is ErrorMode.RECORD_AND_CONTINUE
    refuse_output_over_input(sink, source, recording)
    refuse_output_over_reference(sink, spec)  # report.reference as files or a table
    plan = plan_model(spec.model)
    source.model_inputs = plan.signature_features  # the features when the spec lists none
    return sink, source, plan
