"""The two Spark lines, each one Spark everywhere: spark_job/spark_lines.py (the pyspark pin, the
Scala suffix, the image, the jars), the environment the tests run in, pyproject, the image and
the manifest."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyspark
import pytest
from packaging.requirements import Requirement

from spark_job.deploy import manifest
from spark_job.dev.jars import Artifact, line_artifacts
from spark_job.spark_lines import DEFAULT_LINE, LINES, SparkLine, line_of, running_line

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
#: What each line's shaded GCS connector must be built for: Hadoop 3.4 (4.0.x) or Hadoop 3.3.4
#: (hadoop3-2.2.x: 3.0.x needs Hadoop 3.3.5's classes).
GCS_CONNECTOR_LINE = {"4.1": "4.0.", "3.5": "hadoop3-2.2."}

pytestmark = pytest.mark.spark35


def _jar(line: SparkLine, pattern: str) -> Artifact:
    (found,) = [a for a in line_artifacts(line.name) if re.fullmatch(pattern, a.artifact)]
    return found


@pytest.mark.parametrize("name", sorted(LINES))
def test_each_line_is_one_spark(name: str) -> None:
    line = LINES[name]
    assert line.pyspark.startswith(name + ".") and line_of(line.pyspark) is line
    assert line.image == f"spark:{line.pyspark}-scala{line.scala}-java17-python3-ubuntu"
    assert _jar(line, rf"spark-avro_{re.escape(line.scala)}").version == line.pyspark
    connector = _jar(line, r"spark-[\d.]+-bigquery")
    assert connector.group == "com.google.cloud.spark"
    assert connector.artifact == f"spark-{name}-bigquery", "connector built for another Spark"
    gcs = _jar(line, "gcs-connector")
    assert gcs.classifier == "shaded" and gcs.version.startswith(GCS_CONNECTOR_LINE[name])


def test_the_tests_run_on_a_line_s_own_environment() -> None:
    """``make setup SPARK=<line>`` installs the line's pin into the line's venv."""
    line = line_of(pyspark.__version__)
    assert line is not None, f"pyspark {pyspark.__version__} is no supported line"
    assert pyspark.__version__ == line.pyspark, "the venv runs another pyspark than the pin"
    assert running_line() is line
    if Path(sys.prefix).parent == REPO_ROOT:  # a checkout's venv, as make setup makes it
        assert Path(sys.prefix).name == line.venv


def test_pyproject_admits_every_line_and_nothing_between() -> None:
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    (pin,) = [Requirement(d) for d in project["dependencies"] if d.startswith("pyspark")]
    for line in LINES.values():
        assert pin.specifier.contains(line.pyspark)
    assert not pin.specifier.contains("4.0.1"), "a Spark line no jar list is made for"


def test_the_image_builds_each_line_from_its_base_image() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(rf"^ARG SPARK_LINE={re.escape(DEFAULT_LINE)}$", text, re.MULTILINE)
    stages = dict(
        (alias, image)
        for image, alias in re.findall(r"^FROM (\S+) AS spark-(\S+)$", text, re.MULTILINE)
    )
    assert stages == {name: line.image for name, line in LINES.items()}
    assert re.search(r"^FROM spark-\$\{SPARK_LINE\}$", text, re.MULTILINE)
    assert 'spark_lines.py jars "${SPARK_LINE}"' in text
    assert "${url}.sha1" in text and "sha1sum -c" in text


def test_the_manifest_says_the_line_s_spark_version() -> None:
    assert LINES[DEFAULT_LINE].pyspark == manifest.SPARK_VERSION


@pytest.mark.parametrize("name", sorted(LINES))
def test_spark_lines_answers_make_and_the_image(name: str) -> None:
    line = LINES[name]
    script = REPO_ROOT / "spark_job" / "spark_lines.py"

    def ask(*words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-I", str(script), *words], capture_output=True, text=True
        )

    assert ask("pin", name).stdout.strip() == line.pyspark
    assert ask("venv", name).stdout.strip() == line.venv
    assert ask("jars", name).stdout.split() == list(line.jars)
    refused = ask("pin", "3.4")
    assert refused.returncode == 2 and "lines: 4.1, 3.5" in refused.stderr


def test_lock_file_coordinates_and_jar_names() -> None:
    assert Artifact.parse("a.b:c:1.0:jar:shaded").file_name == "c-1.0-shaded.jar"
    assert Artifact.parse("a.b:c:1.0").coordinate == "a.b:c:1.0"
    with pytest.raises(ValueError):
        Artifact.parse("a.b:c")
