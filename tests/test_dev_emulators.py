"""The development emulators: the env file, the TLS gRPC port and the JVM's trust in it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import REPO_ROOT


def _exports(path: Path) -> dict[str, str]:
    pairs = (line.removeprefix("export ").split("=", 1) for line in path.read_text().splitlines())
    return dict(pairs)


def test_env_file_lists_the_endpoints_and_sigterm_stops_both(tmp_path: Path) -> None:
    from spark_job.bigquery.clients import bigquery_client

    env_file = tmp_path / "emulators.env"
    process = subprocess.Popen(
        [sys.executable, "-m", "spark_job.dev.emulators", "--env-file", str(env_file)],
        cwd=REPO_ROOT,
    )
    try:
        deadline = time.monotonic() + 90
        while not env_file.exists():
            assert process.poll() is None, "the emulators exited at start"
            assert time.monotonic() < deadline, "no env file within 90 s"
            time.sleep(0.2)
        exports = _exports(env_file)
        assert set(exports) >= {
            "BIGQUERY_EMULATOR_HOST", "BIGQUERY_STORAGE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST",
            "GOOGLE_CLOUD_PROJECT", "SPARK_JOB_BIGQUERY_STORAGE_TLS_HOST", "SPARK_JOB_TRUSTSTORE",
        }  # fmt: skip
        assert Path(exports["SPARK_JOB_TRUSTSTORE"]).is_file()
        saved = os.environ.get("BIGQUERY_EMULATOR_HOST")
        os.environ["BIGQUERY_EMULATOR_HOST"] = exports["BIGQUERY_EMULATOR_HOST"]
        try:  # the file's endpoint is the one that answers
            client = bigquery_client(exports["GOOGLE_CLOUD_PROJECT"])
            client.create_dataset("from_env_file", timeout=30)
            assert [d.dataset_id for d in client.list_datasets(timeout=30)] == ["from_env_file"]
        finally:
            if saved is None:
                os.environ.pop("BIGQUERY_EMULATOR_HOST")
            else:
                os.environ["BIGQUERY_EMULATOR_HOST"] = saved
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 2
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        gone, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, f"still running after SIGTERM: {alive}"
    finally:
        if process.poll() is None:
            process.kill()


def test_tls_port_serves_the_storage_api_with_the_emulators_certificate(emulators: Any) -> None:
    """A TLS client that trusts only the emulators' certificate reaches bqemulator's gRPC."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    credentials = grpc.ssl_channel_credentials(emulators.certificate.pem_bytes)
    target = emulators.environment["SPARK_JOB_BIGQUERY_STORAGE_TLS_HOST"]
    with grpc.secure_channel(target, credentials) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=20
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    system_cas = grpc.ssl_channel_credentials()
    with grpc.secure_channel(target, system_cas) as channel, pytest.raises(grpc.RpcError):
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)


def test_the_jvm_trusts_the_tls_port(spark: Any, emulators: Any) -> None:
    """The session's JVM (built like ``--local`` with the emulators' exports) completes a TLS
    handshake with the port, as the spark-bigquery connector's gRPC client would."""
    jvm = spark.sparkContext._jvm
    host, port = emulators.environment["SPARK_JOB_BIGQUERY_STORAGE_TLS_HOST"].split(":")
    socket = jvm.javax.net.ssl.SSLSocketFactory.getDefault().createSocket(host, int(port))
    try:
        socket.startHandshake()
        peer = socket.getSession().getPeerPrincipal().getName()
    finally:
        socket.close()
    assert peer == "CN=localhost"


def test_session_hands_the_emulators_to_the_jvm_connectors(spark: Any, emulators: Any) -> None:
    conf = spark.sparkContext.getConf()
    gcs = emulators.environment["STORAGE_EMULATOR_HOST"]
    assert conf.get("spark.hadoop.fs.gs.storage.root.url") == gcs
    assert conf.get("spark.hadoop.fs.gs.auth.type") == "UNAUTHENTICATED"
    rest = emulators.environment["BIGQUERY_EMULATOR_HOST"]
    assert conf.get("spark.datasource.bigquery.bigQueryHttpEndpoint") == f"http://{rest}"
    tls = emulators.environment["SPARK_JOB_BIGQUERY_STORAGE_TLS_HOST"]
    assert conf.get("spark.datasource.bigquery.bigQueryStorageGrpcEndpoint") == tls
