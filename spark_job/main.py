"""spark-submit entrypoint.

    spark-submit spark_job/main.py --job-name NAME --spec-path PATH
    python -m spark_job --job-name NAME --spec-path PATH --local

Exit codes: 0 done (or skipped by IGNORE), 1 runtime failure, 2 user error, 3 published
but drifted (report.failOnDrift), 143 stopped by SIGTERM (see spark_job/run/lifecycle.py).
The console shows the job's states, progress, summary and errors only
(spark_job/run/console.py); Spark's logs and the job's log lines go to the job's log file
(spark_job/run/job_log.py).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any, NoReturn

if (
    __name__ == "__main__"
    and sys.path
    and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__))
):
    # Run as a script by spark-submit: our package directory must not shadow top-level modules.
    sys.path.pop(0)

from spark_job.errors import UserError, unreachable_service  # noqa: E402
from spark_job.run.console import FORMATS, current  # noqa: E402
from spark_job.spec.secrets import redact  # noqa: E402

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_DRIFT = 3  # published, but report.failOnDrift and a column drifted (docs/report.md)


class _Parser(argparse.ArgumentParser):
    """A bad flag is a user error like any other: one ``error: …`` line and exit 2, no usage
    text (``--help`` shows it)."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{message} (see --help).")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="spark_job", description="Score a BigQuery table or files with an MLflow model."
    )
    parser.add_argument("--job-name", required=False, help="name of this job run")
    parser.add_argument("--spec-path", required=False, help="path of the job spec YAML")
    parser.add_argument("--local", action="store_true", help="run in Spark local mode")
    parser.add_argument("--master", help="Spark master URL (default: from spark-submit)")
    parser.add_argument(
        "--run-id",
        help="id of this run, stable across driver restarts (default: $SPARK_JOB_RUN_ID, else the"
        " SparkApplication's name under spark-operator, else random)",
    )
    parser.add_argument(
        "--dry-run-model",
        metavar="URI",
        help="load the model at URI, print its signature, params, result type and features,"
        " and exit; with --spec-path, also check the source's schema against the signature",
    )
    parser.add_argument(
        "--status-path", help="write the final status JSON here (a local path or gs://…)"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="level of the job's own log lines in the log file (default INFO)",
    )
    parser.add_argument(
        "--log-file",
        help="the job's log file: Spark's logs and the job's log lines (default:"
        " <temp dir>/spark_job-<job>-<run id>.log)",
    )
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        default="auto",
        help="the console: human lines and a live progress bar, or one JSON object per line"
        " (default auto: human on a terminal, else json)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the summary and errors")
    parser.add_argument(
        "--progress-interval",
        type=float,
        help="seconds between progress reports while predicting (0: none; default 10, or 0.5"
        " for the live bar)",
    )
    return parser


def _open_log(args: argparse.Namespace) -> Any:
    """The console chosen by the flags, the run id resolved, the job's log file opened."""
    from spark_job.run.console import Console, configure
    from spark_job.run.job_log import JobLog, default_log_file

    console = configure(Console.choose(args.log_format, args.quiet))
    args.progress_interval = console.progress_interval(args.progress_interval)
    args.run_id = _run_id(args)
    path = args.log_file or default_log_file(args.job_name or "dry-run-model", args.run_id)
    return JobLog(path, console, args.log_level).open()


def _result_text(result: Any) -> str:
    if result.type.value == "ARRAY":
        return f"ARRAY<{result.item_type.value}>"
    if result.fields:
        inner = ", ".join(f"{f.name}: {f.type.value}" for f in result.fields)
        return f"STRUCT<{inner}>" + (" (flattened)" if result.flatten else "")
    return str(result.type.value)


def _dry_run_model(args: argparse.Namespace) -> int:
    """``--dry-run-model URI``: load the model, print its signature, params, the result type
    and the features a job would give it; with ``--spec-path`` (the spec's model with this
    URI), also read the source's schema and check it against the signature (exit 2 with the
    mismatches). Never scores, never writes."""
    from dataclasses import replace

    from spark_job.scoring.model import load_pyfunc
    from spark_job.scoring.signature import describe, plan_model
    from spark_job.spec import ModelSpec, load_spec

    uri = args.dry_run_model
    spec = load_spec(args.spec_path) if args.spec_path else None
    model = replace(spec.model, uri=uri) if spec else ModelSpec(uri=uri)
    plan = plan_model(model)
    loaded = load_pyfunc(plan.model_dir)
    print(f"model loaded: {uri} ({type(loaded).__name__})")
    for line in describe(plan, model.params):
        print(line)
    print(f"result: {_result_text(plan.result)} (model.result.type {model.result.type.value})")
    listed = spec.source.features if spec else []
    if listed:
        print(f"features: {', '.join(listed)} (from the spec)")
    elif plan.signature_features:
        print(f"features: {', '.join(plan.signature_features)} (from the signature)")
    else:
        print("features: every column of the input that is not passed through")
    if spec is not None:
        _dry_run_preflight(args, replace(spec, model=model), plan)
        print("preflight: ok")
    sys.stdout.flush()
    return EXIT_OK


def _dry_run_preflight(args: argparse.Namespace, spec: Any, plan: Any) -> None:
    """The source's schema (planned, not read) against the signature: UserError if it does
    not fit."""
    from spark_job.run.runner import fit_to_signature
    from spark_job.run.session import build_session
    from spark_job.sources import open_source

    source = open_source(spec, plan.signature_features)
    source.check_options()
    spark = build_session(args.job_name or "dry-run-model", local=args.local, master=args.master)
    try:
        fit_to_signature(spark, source.read(spark), spec, plan, source)
    finally:
        source.close()
        spark.stop()


def _run_id(args: argparse.Namespace) -> str:
    from spark_job.run.run_id import resolve_run_id

    return resolve_run_id(args.run_id)


def _write_status(args: argparse.Namespace, state: str, run_id: str, **fields: Any) -> None:
    if not args.status_path:
        return
    from spark_job.run.status import status_document, write_status

    try:
        write_status(args.status_path, status_document(state, args.job_name, run_id, **fields))
    except Exception as error:  # the status file must not change the job's outcome
        current().warning(redact(f"could not write --status-path: {error}"))


def _run(args: argparse.Namespace) -> int:
    """Run the job with its lifecycle: states, SIGTERM, status file, exit code."""
    from spark_job.run.lifecycle import EXIT_TERMINATED, Lifecycle, terminating
    from spark_job.run.status import RunMeter

    if not args.spec_path or not args.job_name:
        raise UserError("--job-name and --spec-path are required (or --dry-run-model URI).")
    lifecycle = Lifecycle(args.job_name)
    lifecycle.install()
    meter = RunMeter()
    run_id = _run_id(args)
    spark = None
    application_id = None
    try:
        lifecycle.state("PENDING", run_id=run_id)
        from spark_job.spec import load_spec

        spec = load_spec(args.spec_path)
        from spark_job.run.preflight import preflight

        sink, source, plan = preflight(spec, args.job_name, run_id)
        from spark_job.run.job_log import reroute_jvm_logs
        from spark_job.run.runner import run_job
        from spark_job.run.session import build_session

        meter.begin("session")
        from spark_job.scoring.model_libraries import preload_modules

        spark = build_session(
            args.job_name, local=args.local, master=args.master,
            preload=preload_modules(plan.model_dir),
        )  # fmt: skip
        reroute_jvm_logs()
        lifecycle.forward_jvm_sigterm(spark)
        lifecycle.on_terminate(spark.sparkContext.cancelAllJobs)
        application_id = spark.sparkContext.applicationId
        meter.end()
        lifecycle.state("RUNNING", spark_application_id=application_id)
        result = run_job(
            spark, spec, args.job_name, run_id, args.progress_interval, meter,
            sink=sink, source=source, plan=plan,
        )  # fmt: skip
    except BaseException as error:
        if terminating():
            lifecycle.state("TERMINATED", error="stopped by SIGTERM")
            _write_status(args, "TERMINATED", run_id, error="stopped by SIGTERM", meter=meter,
                          application_id=application_id)  # fmt: skip
            return EXIT_TERMINATED
        message = str(error) if isinstance(error, UserError) else _first_line(error)
        lifecycle.state("FAILED", error=message)
        _write_status(args, "FAILED", run_id, error=message, meter=meter,
                      application_id=application_id)  # fmt: skip
        raise
    finally:
        if spark is not None:
            lifecycle.restore_jvm_sigterm()
            spark.stop()
    lifecycle.state("COMPLETED", outcome=result.status, destination=result.destination,
                    rows_written=result.rows_written)  # fmt: skip
    _write_status(args, "COMPLETED", run_id, result=result, meter=meter,
                  application_id=application_id)  # fmt: skip
    fields = {k: v for k, v in vars(result).items() if k not in ("status", "seconds")}
    current().summary(result.summary(), job=args.job_name, outcome=result.status,
                      seconds=round(result.seconds, 1), **fields)  # fmt: skip
    if result.failed_on_drift:
        drifted = ", ".join(f"{d['column']} (PSI {d['psi']:.3f})" for d in result.drift)
        current().error(
            f"report.failOnDrift: drift above report.driftThreshold in {drifted}; the results"
            f" are published, see {result.report}"
        )
        return EXIT_DRIFT
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job_log = None
    try:
        if argv and argv[0] == "manifest":
            from spark_job.deploy.manifest import main as manifest_main

            return manifest_main(argv[1:])
        args = build_parser().parse_args(argv)
        job_log = _open_log(args)
        if args.dry_run_model:
            return _dry_run_model(args)
        return _run(args)
    except UserError as error:
        current().error(redact(str(error)))
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        current().error("interrupted")
        return EXIT_FAILED
    except Exception as error:  # a runtime failure: one line for the operator, details in logs
        shown = job_log is not None and job_log.has_content()
        current().error(redact(f"job failed: {_first_line(error)}"), show_log=shown)
        if job_log is not None and job_log.debug:
            raise
        return EXIT_FAILED
    except BaseException as error:  # SIGTERM while reporting a failure
        from spark_job.run.lifecycle import EXIT_TERMINATED, Terminated

        if isinstance(error, Terminated):
            return EXIT_TERMINATED
        raise
    finally:
        if job_log is not None:
            job_log.close()


def _first_line(error: BaseException) -> str:
    unreachable = unreachable_service(error)  # a service or emulator that is down
    if unreachable:
        return unreachable
    text = str(error).strip() or type(error).__name__
    lines = [line for line in text.splitlines() if line.strip()]
    # A Python task failure's useful line is the exception at the end of its traceback.
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_.]+(Error|Exception): ", line.strip()):
            return line.strip()
    return lines[0] if lines else type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
