"""A process that imports the model's libraries while the JVM starts, and forks the Python
worker daemon from them when Spark asks for it (local mode).

Spark starts its Python worker daemon on the first Python task, after the SparkSession is up,
the model shipped and the warm-up submitted: the daemon's imports (pandas, pyarrow, MLflow and
the model's flavor: seconds of CPU) then sit on the job's path. In local mode the driver knows
the model before the session exists (``preflight``), so it starts this process first: it binds
a Unix socket and imports those modules while the JVM starts, on the other core.

When the JVM launches ``spark.python.daemon.module`` (:mod:`spark_job.scoring.worker_daemon`),
that launcher finds ``SPARK_JOB_ZYGOTE`` in its environment, connects, and hands over its
stdin, stdout and stderr (the JVM's pipes) with its environment, directory and ``sys.path``.
This process forks; the child takes those descriptors and that environment and runs PySpark's
daemon ``manager()``, which forks the workers as usual. The launcher stays until the child and
its workers are gone (they hold the connection) and passes SIGTERM on, so the JVM's view of
its daemon is unchanged. If anything is off (no such socket, a different interpreter or hash
seed, a refusal), the launcher runs the daemon itself, as without this process.

The process ends when the driver does: its stdin is a pipe from the driver.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

from spark_job.scoring.preload import PRELOAD_ENV, preload

#: The socket of the driver's zygote, in the Python workers' environment.
ZYGOTE_ENV = "SPARK_JOB_ZYGOTE"
#: The hash seed is fixed when an interpreter starts: a forked daemon keeps the zygote's.
HASH_SEED_ENV = "PYTHONHASHSEED"
#: How long a launcher waits for the zygote to fork (it may still be importing).
HAND_OVER_SECONDS = 300.0

_HEADER = struct.Struct("!I")
_started: tuple[subprocess.Popen[bytes], str] | None = None


def hash_seed() -> str:
    """The hash seed PySpark gives Python workers (``SparkContext`` sets it)."""
    return os.environ.get(HASH_SEED_ENV, "0")


def start(modules: Sequence[str]) -> str:
    """Start this driver's zygote importing ``modules`` (once per driver); its socket path."""
    global _started
    if _started is not None and _started[0].poll() is None:
        return _started[1]
    directory = tempfile.mkdtemp(prefix="spark_job_zygote_")
    path = os.path.join(directory, "socket")
    environment = dict(os.environ)
    environment[HASH_SEED_ENV] = hash_seed()
    environment["PYTHONPATH"] = os.pathsep.join(entry for entry in sys.path if entry)
    debug = os.environ.get("SPARK_JOB_DEBUG") == "1"
    process = subprocess.Popen(
        [sys.executable, "-m", __name__, path, ",".join(modules)],
        stdin=subprocess.PIPE,  # the lifeline: closed when the driver ends
        stdout=subprocess.DEVNULL,
        stderr=None if debug else subprocess.DEVNULL,
        env=environment,
        start_new_session=True,  # not in the terminal's group: Ctrl-C reaches the driver
    )
    _started = (process, path)
    return path


# --- the launcher's side (run by worker_daemon, in the process the JVM started) ---


def hand_over(path: str) -> bool:
    """Have the zygote at ``path`` run the daemon on this process's stdin/stdout/stderr and
    wait until it ends. False (nothing started) when the zygote is not there or refuses."""
    if not os.path.exists(path):
        return False
    request = json.dumps({
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "path": sys.path,
        "executable": os.path.realpath(sys.executable),
        "prefix": sys.prefix,  # two virtual environments may share one interpreter
    }).encode()  # fmt: skip
    try:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(HAND_OVER_SECONDS)
        connection.connect(path)
        socket.send_fds(connection, [_HEADER.pack(len(request)) + request], [0, 1, 2])
        reply = connection.makefile("rb").readline().decode().split()
    except OSError:
        return False
    if len(reply) != 2 or reply[0] != "ok":
        return False
    daemon_pid = int(reply[1])
    # The JVM stops its daemon with SIGTERM: the forked daemon gets it. Ctrl-C is the driver's.
    signal.signal(signal.SIGTERM, lambda *_: _signal(daemon_pid, signal.SIGTERM))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    connection.settimeout(None)
    with contextlib.suppress(OSError):
        while connection.recv(4096):  # end of stream: the daemon and its workers are gone
            pass
    return True


def _signal(pid: int, number: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, number)


# --- the zygote's side ---


def _preload(names: Sequence[str]) -> None:
    # Nothing imported may write to stdout: the forked daemon's stdout is the JVM's pipe.
    with contextlib.redirect_stdout(sys.stderr):
        preload(",".join(name for name in names if name not in sys.modules))
    sys.stdout.flush()
    sys.stderr.flush()


def _read_request(connection: socket.socket) -> tuple[dict[str, object], list[int]]:
    data, fds, _, _ = socket.recv_fds(connection, 65536, 3)
    while len(data) < _HEADER.size or len(data) < _HEADER.size + _HEADER.unpack_from(data)[0]:
        more = connection.recv(65536)
        if not more:
            raise OSError("the launcher hung up")
        data += more
    (size,) = _HEADER.unpack_from(data)
    return json.loads(data[_HEADER.size : _HEADER.size + size]), fds


def _refusal(request: dict[str, object], fds: list[int]) -> str | None:
    environment = request.get("env")
    if len(fds) != 3 or not isinstance(environment, dict):
        return "bad-request"
    if request.get("executable") != os.path.realpath(sys.executable):
        return "other-interpreter"
    if request.get("prefix") != sys.prefix:
        return "other-environment"
    if environment.get(HASH_SEED_ENV, "0") != os.environ.get(HASH_SEED_ENV, "0"):
        return "other-hash-seed"
    if not os.path.isdir(str(request.get("cwd"))) or not isinstance(request.get("path"), list):
        return "bad-request"
    return None


def _run_daemon(request: dict[str, object], fds: list[int], listener: socket.socket) -> None:
    """In the forked child: become the daemon the JVM started. Never returns."""
    code = 1
    try:
        listener.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        environment = request["env"]
        assert isinstance(environment, dict)
        os.environ.clear()
        os.environ.update(environment)
        os.chdir(str(request["cwd"]))
        sys.path[:] = [str(entry) for entry in request["path"]]  # type: ignore[attr-defined]
        from pyspark.daemon import manager

        manager()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _serve_one(listener: socket.socket) -> None:
    connection, _ = listener.accept()
    fds: list[int] = []
    try:
        request, fds = _read_request(connection)
        refusal = _refusal(request, fds)
        if refusal is not None:
            connection.sendall(f"no {refusal}\n".encode())
            return
        extra = str(request["env"].get(PRELOAD_ENV, ""))  # type: ignore[union-attr]
        _preload(extra.split(","))
        if _hung_up(connection):  # it gave up waiting and runs the daemon itself
            return
        pid = os.fork()
        if pid == 0:
            _run_daemon(request, fds, listener)
        connection.sendall(f"ok {pid}\n".encode())
    except OSError:
        pass
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        connection.close()  # the child keeps its copy: the launcher waits on it


def _hung_up(connection: socket.socket) -> bool:
    try:
        return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def serve(path: str, modules: Sequence[str]) -> None:
    """Bind ``path``, import ``modules``, then fork a daemon per launcher until stdin ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)  # launchers that come early wait here while the imports run
    try:
        _preload(modules)
        events = selectors.DefaultSelector()
        events.register(listener, selectors.EVENT_READ)
        events.register(sys.stdin, selectors.EVENT_READ)
        while True:
            for key, _ in events.select(timeout=1.0):
                if key.fileobj is listener:
                    _serve_one(listener)
                elif not os.read(sys.stdin.fileno(), 4096):
                    return  # the driver has ended
            _reap()
    finally:
        listener.close()
        shutil.rmtree(Path(path).parent, ignore_errors=True)


if __name__ == "__main__":
    serve(sys.argv[1], [name for name in sys.argv[2].split(",") if name])
