"""The zygote: the Python worker daemon forked from a process that imported the model's
libraries while the JVM started, driven here as the JVM drives a daemon (its port read from
stdout, stdin closed to stop it)."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from spark_job.scoring import zygote

LAUNCHER = [sys.executable, "-m", "spark_job.scoring.worker_daemon"]


def _launch(socket_path: str, **environment: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONHASHSEED": "0", **environment}
    env[zygote.ZYGOTE_ENV] = socket_path
    return subprocess.Popen(LAUNCHER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)


def _daemon_port(launcher: subprocess.Popen[bytes]) -> int:
    assert launcher.stdout is not None
    return int(struct.unpack("!i", launcher.stdout.read(4))[0])


def _listener(port: int) -> psutil.Process:
    """The process listening on ``port``: the daemon."""
    for connection in psutil.net_connections("tcp"):
        if connection.laddr and connection.laddr.port == port and connection.pid:
            return psutil.Process(connection.pid)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture(scope="module")
def zygote_socket() -> str:
    path = zygote.start(["colorsys"])
    deadline = time.monotonic() + 60
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return path


def test_the_daemon_is_forked_from_the_zygote_and_stops_when_stdin_closes(
    zygote_socket: str,
) -> None:
    launcher = _launch(zygote_socket)
    port = _daemon_port(launcher)
    daemon = _listener(port)
    assert daemon.pid != launcher.pid
    assert "spark_job.scoring.zygote" in " ".join(daemon.parent().cmdline())
    assert launcher.stdin is not None
    launcher.stdin.close()  # as the JVM tells its daemon to end
    assert launcher.wait(timeout=30) == 0
    psutil.wait_procs([daemon], timeout=30)
    assert not daemon.is_running() or daemon.status() == psutil.STATUS_ZOMBIE


def test_sigterm_to_the_launcher_stops_the_forked_daemon(zygote_socket: str) -> None:
    launcher = _launch(zygote_socket)
    daemon = _listener(_daemon_port(launcher))
    launcher.send_signal(signal.SIGTERM)  # the JVM's Process.destroy()
    assert launcher.wait(timeout=30) == 0
    gone, _ = psutil.wait_procs([daemon], timeout=30)
    assert gone or daemon.status() == psutil.STATUS_ZOMBIE


def test_a_launcher_with_another_hash_seed_runs_the_daemon_itself(zygote_socket: str) -> None:
    launcher = _launch(zygote_socket, PYTHONHASHSEED="7")
    daemon = _listener(_daemon_port(launcher))
    assert daemon.pid == launcher.pid
    assert launcher.stdin is not None
    launcher.stdin.close()
    launcher.wait(timeout=30)


def test_no_zygote_means_the_launcher_is_the_daemon(tmp_path: Path) -> None:
    launcher = _launch(str(tmp_path / "no-such-socket"))
    assert _listener(_daemon_port(launcher)).pid == launcher.pid
    assert launcher.stdin is not None
    launcher.stdin.close()
    launcher.wait(timeout=30)
    assert not zygote.hand_over(str(tmp_path / "no-such-socket"))


def test_a_launcher_of_another_virtual_environment_runs_the_daemon_itself(
    zygote_socket: str, tmp_path: Path
) -> None:
    """Same interpreter binary, another environment (its own packages): no fork from ours."""
    other = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(other)], check=True)
    packages = os.pathsep.join(entry for entry in sys.path if entry)
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": packages}
    env[zygote.ZYGOTE_ENV] = zygote_socket
    launcher = subprocess.Popen(
        [str(other / "bin" / "python"), *LAUNCHER[1:]],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
    )  # fmt: skip
    assert _listener(_daemon_port(launcher)).pid == launcher.pid
    assert launcher.stdin is not None
    launcher.stdin.close()
    launcher.wait(timeout=30)
