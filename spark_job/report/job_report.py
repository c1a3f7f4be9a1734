"""The report of one run, as the runner drives it: planned before anything is read, gathered
by the scoring tasks, written once the results are published.

    plan = ReportPlan.for_spec(spec)          # place checked, reference read (UserError)
    plan = plan.with_reference(document, where)   # reference data scored (run/reference.py)
    collector = plan.collector(spark, ...)    # shipped with the predictions
    ...                                       # stage, publish
    outcome = plan.finish(collector.value, facts)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from spark_job.errors import UserError
from spark_job.report.collector import PartialReport, ReportCollector
from spark_job.report.document import RunFacts, build_report, to_json_text
from spark_job.report.drift import compare
from spark_job.report.html import render
from spark_job.report.writer import ReportPlace, read_reference
from spark_job.spec import GcsSink, JobSpec
from spark_job.storage import gcs
from spark_job.storage.input_files import local_path
from spark_job.storage.locations import Place, output_location, overlap


@dataclass(frozen=True)
class ReportOutcome:
    """Where the report was written and which columns drifted."""

    json_uri: str
    html_uri: str
    flagged: list[dict[str, Any]] = field(default_factory=list)
    fail_on_drift: bool = False

    @property
    def failed_on_drift(self) -> bool:
        return self.fail_on_drift and bool(self.flagged)

    def drift_text(self) -> str:
        return ", ".join(f"{f['column']} (PSI {f['psi']:.3f})" for f in self.flagged)


def _results_folder(spec: JobSpec) -> str | None:
    if not isinstance(spec.sink, GcsSink):
        return None
    uri = spec.sink.uri
    return uri if gcs.is_gcs(uri) else str(Path(local_path(uri)).absolute())


def _report_place(spec: JobSpec) -> ReportPlace | None:
    """Where ``spec``'s job report goes, unchecked; None when it writes none."""
    if not spec.report_enabled:
        return None
    return ReportPlace.choose(spec.report.path, _results_folder(spec))


def report_wanted(spec: JobSpec) -> bool:
    """Whether ``spec`` asks for a job report, without checking its place: for a run that
    ends without writing one, to say so."""
    return _report_place(spec) is not None


@dataclass(frozen=True)
class ReportPlan:
    place: ReportPlace
    threshold: float
    fail_on_drift: bool
    reference_uri: str | None = None
    reference: dict[str, Any] | None = None

    @classmethod
    def for_spec(cls, spec: JobSpec, inputs: Sequence[Place] = ()) -> ReportPlan | None:
        """Driver, before anything is read: None when the spec writes no report; UserError
        when its place cannot be written, is or lies inside one of the ``inputs`` (the
        source's and the reference data's), or its reference report cannot be read. Reference
        data is scored later and given by :meth:`with_reference`."""
        place = _report_place(spec)
        if place is None:
            return None
        if spec.report.path is not None:  # beside the results, the sink checked the place
            where = output_location(spec.report.path)
            for source in inputs:
                relation = overlap(where, source.location)
                if relation:
                    raise UserError(
                        f"report.path: '{spec.report.path}' {relation} the input of"
                        f" {source.field} ('{source.shown}'); choose another folder."
                    )
            place.check()
        uri = spec.report.reference_report
        return cls(
            place,
            spec.report.drift_threshold,
            spec.report.fail_on_drift,
            uri,
            read_reference(uri) if uri else None,
        )

    def with_reference(self, document: dict[str, Any], where: str) -> ReportPlan:
        """The plan measuring drift against ``document`` (a report of the reference data,
        described by ``where``)."""
        return replace(self, reference_uri=where, reference=document)

    @staticmethod
    def collector(spark: Any, features: list[str], results: list[str]) -> ReportCollector:
        return ReportCollector.create(spark, features, results)

    def finish(self, stats: PartialReport | None, facts: RunFacts) -> ReportOutcome:
        """Driver, after publishing: the report built, compared, written."""
        document = build_report(stats, facts)
        flagged: list[dict[str, Any]] = []
        if self.reference is not None and self.reference_uri is not None:
            compared = compare(document, self.reference, self.threshold, self.reference_uri)
            rows = (self.reference.get("rows") or {}).get("read")  # the reference's rows
            drift = {"reference": compared.pop("reference"), "reference_rows": rows, **compared}
            document["drift"] = drift
            flagged = drift["flagged"]
        self.place.write(to_json_text(document), render(document))
        return ReportOutcome(self.place.json_uri, self.place.html_uri, flagged, self.fail_on_drift)
