"""The image (docker/) and the Spark configuration it ships (conf/).

There is no Docker engine here, so the image is not built: the Dockerfile is linted with
hadolint, and what it relies on is checked against the repository — the paths it copies exist
and are in the build context, its Spark version is the manifest's, its Python requirements are
the package's. The entrypoint runs for real, with a stand-in for the official Spark image's
entrypoint (which exists only in that image). log4j2.properties is loaded by the real log4j2
of the pyspark package.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from spark_job.deploy import manifest
from tests.conftest import REPO_ROOT

DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
ENTRYPOINT = REPO_ROOT / "docker" / "entrypoint.sh"


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def _copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY."""
    copies = []
    for keyword, arguments in _instructions():
        if keyword == "COPY":
            words = [word for word in arguments.split() if not word.startswith("--")]
            copies.append((words[:-1], words[-1]))
    return copies


def _destination(source: str) -> str:
    """Where the image has the repository path ``source`` (a file or a directory)."""
    for sources, target in _copies():
        for copied in sources:
            if source == copied or source.startswith(copied + "/"):
                inside = source[len(copied) :].lstrip("/")
                if target.endswith("/"):
                    return target + Path(copied).name + ("/" + inside if inside else "")
                return f"{target}/{inside}" if inside else target
    raise AssertionError(f"{source} is not copied into the image")


def _ignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus ``**``) as a regex."""
    out, i = "", 0
    pattern = pattern.strip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _ignored(path: str) -> bool:
    """Whether the build context leaves ``path`` out (a directory left out takes its files)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern in _ignore_patterns():
        negated = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def test_dockerfile_lints_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    proc = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    assert _ignored("tests/test_docker.py") and _ignored("spark_job/__pycache__/main.pyc")
    assert not _ignored("spark_job/main.py")
    sources = [source for copied, _ in _copies() for source in copied]
    assert {"spark_job", "pyproject.toml", "README.md", "docker/entrypoint.sh"} <= set(sources)
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"COPY {source}: no such path in the repository"
        assert not _ignored(source), f"COPY {source}: left out of the context by .dockerignore"


def test_the_image_has_what_the_manifest_points_at() -> None:
    assert "local://" + _destination("spark_job/main.py") == manifest.MAIN_FILE
    for name in ("spark-defaults.conf", "log4j2.properties", "metrics.properties"):
        assert _destination(f"conf/{name}") == f"{manifest.IMAGE_CONF_DIR}/{name}"
    assert manifest.IMAGE_SPARK_CONF["spark.metrics.conf"] == _destination(
        "conf/metrics.properties"
    )
    environment = " ".join(arguments for keyword, arguments in _instructions() if keyword == "ENV")
    assert f"SPARK_CONF_DIR={manifest.IMAGE_CONF_DIR}" in environment
    assert f"SPARK_JOB_HOME={manifest.IMAGE_HOME}" in environment
    entrypoint = [arguments for keyword, arguments in _instructions() if keyword == "ENTRYPOINT"]
    assert entrypoint == [f'["{_destination("docker/entrypoint.sh")}"]']


def test_image_requirements_are_the_package_dependencies_but_pyspark() -> None:
    """The image installs the package with --no-deps: pyspark is the image's Spark."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    expected = {str(Requirement(dep)) for dep in project["dependencies"]}
    expected = {dep for dep in expected if Requirement(dep).name != "pyspark"}
    lines = (REPO_ROOT / "docker" / "requirements.txt").read_text().splitlines()
    given = {str(Requirement(line)) for line in lines if line.strip() and line[0] != "#"}
    assert given == expected


@pytest.fixture
def image_entrypoint(tmp_path: Path) -> dict[str, str]:
    """Environment for docker/entrypoint.sh with a stand-in for the official image's entrypoint
    (/opt/entrypoint.sh, which exists only in that image) that prints what it is given."""
    stand_in = tmp_path / "official-entrypoint.sh"
    stand_in.write_text('#!/bin/bash\nprintf "%s\\n" "$@"\n')
    stand_in.chmod(0o755)
    return {
        "PATH": "/usr/bin:/bin",
        "SPARK_IMAGE_ENTRYPOINT": str(stand_in),
        "SPARK_HOME": "/opt/spark",
        "SPARK_JOB_HOME": manifest.IMAGE_HOME,
    }


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--job-name", "nightly", "--spec-path", "/etc/spark_job/job.yaml"],
         ["/usr/bin/tini", "-s", "--", "/opt/spark/bin/spark-submit",
          "/opt/spark_job/spark_job/main.py", "--job-name", "nightly", "--spec-path",
          "/etc/spark_job/job.yaml"]),
        (["--help"], ["/usr/bin/tini", "-s", "--", "/opt/spark/bin/spark-submit",
                      "/opt/spark_job/spark_job/main.py", "--help"]),
        # how Spark on Kubernetes starts the driver and executor pods: untouched
        (["driver", "--properties-file", "/opt/spark/conf/spark.properties",
          "local:///opt/spark_job/spark_job/main.py", "--job-name", "nightly"],
         ["driver", "--properties-file", "/opt/spark/conf/spark.properties",
          "local:///opt/spark_job/spark_job/main.py", "--job-name", "nightly"]),
        (["executor"], ["executor"]),
        (["python3", "-m", "spark_job", "manifest", "--spec-path", "a b.yaml"],
         ["python3", "-m", "spark_job", "manifest", "--spec-path", "a b.yaml"]),
    ],
)  # fmt: skip
def test_entrypoint_routes_job_arguments_and_kubernetes_commands(
    image_entrypoint: dict[str, str], arguments: list[str], expected: list[str]
) -> None:
    proc = subprocess.run(
        ["bash", str(ENTRYPOINT), *arguments],
        capture_output=True, text=True, timeout=30, env=image_entrypoint,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == expected


def test_entrypoint_is_valid_bash() -> None:
    proc = subprocess.run(["bash", "-n", str(ENTRYPOINT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _spark_jars() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


LOG_CHECK = """
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;

public class LogCheck {
    public static void main(String[] args) {
        for (int i = 0; i + 2 < args.length; i += 3) {
            LogManager.getLogger(args[i]).log(Level.valueOf(args[i + 1]), args[i + 2]);
        }
    }
}
"""


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a Java runtime")
def test_log4j2_properties_keeps_job_logs_concise(tmp_path: Path) -> None:
    """The real log4j2 (pyspark's jars) loads conf/log4j2.properties: INFO only where chosen."""
    jars = _spark_jars()
    classpath = ":".join(str(next(jars.glob(f"log4j-{part}-2*.jar"))) for part in ("api", "core"))
    source = tmp_path / "LogCheck.java"
    source.write_text(LOG_CHECK)
    messages = [
        ("org.apache.spark.SparkContext", "INFO", "context-info-shown"),
        ("org.apache.spark.scheduler.cluster.StandaloneSchedulerBackend", "INFO", "executor-shown"),
        ("org.apache.spark.storage.BlockManager", "INFO", "block-info-hidden"),
        ("org.apache.spark.storage.BlockManager", "WARN", "block-warn-shown"),
        ("org.apache.hadoop.util.NativeCodeLoader", "WARN", "hadoop-warn-hidden"),
        ("org.apache.parquet.hadoop.ParquetOutputFormat", "ERROR", "parquet-error-shown"),
    ]
    config = REPO_ROOT / "conf" / "log4j2.properties"
    proc = subprocess.run(
        ["java", "-cp", classpath, f"-Dlog4j2.configurationFile={config}", str(source),
         *[word for message in messages for word in message]],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "StatusLogger" not in proc.stderr and proc.stdout == ""  # no config errors; stderr
    shown = re.findall(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (\w+) (\w+): (\S+)$", proc.stderr, re.M)
    assert [text for _, _, text in shown] == [
        "context-info-shown", "executor-shown", "block-warn-shown", "parquet-error-shown",
    ]  # fmt: skip
    assert shown[0][:2] == ("INFO", "SparkContext")


def test_metrics_properties_use_spark_prometheus_servlet() -> None:
    """Every class metrics.properties names exists in Spark's jars; the driver and the
    executors report through the PrometheusServlet at /metrics/prometheus."""
    import zipfile

    lines = (REPO_ROOT / "conf" / "metrics.properties").read_text().splitlines()
    settings = dict(
        line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")
    )
    assert settings["*.sink.prometheusServlet.class"].endswith(".PrometheusServlet")
    assert settings["*.sink.prometheusServlet.path"] == "/metrics/prometheus"
    (core,) = _spark_jars().glob("spark-core_2.13-*.jar")
    with zipfile.ZipFile(core) as jar:
        names = set(jar.namelist())
    for key, value in settings.items():
        if key.endswith(".class"):
            assert value.replace(".", "/") + ".class" in names, f"{key}: no class {value}"
