"""One Spark line everywhere: pyproject's pyspark pin, the image, the manifest and the jars."""

from __future__ import annotations

import re
from pathlib import Path

import pyspark
import pytest

from spark_job.deploy import manifest
from spark_job.dev.jars import Artifact, read_lock

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"


def _pinned_pyspark() -> str:
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    (pin,) = [dep for dep in project["dependencies"] if dep.startswith("pyspark")]
    match = re.fullmatch(r"pyspark==(\d+\.\d+\.\d+)", pin.replace(" ", ""))
    assert match, f"pyspark is not pinned to one version: {pin}"
    return match[1]


def _jar(pattern: str) -> Artifact:
    (found,) = [a for a in read_lock() if re.fullmatch(pattern, a.artifact)]
    return found


def test_pyspark_pin_image_manifest_and_jars_are_one_spark() -> None:
    spark = _pinned_pyspark()
    assert pyspark.__version__ == spark, "the .venv runs another pyspark than the pin"
    assert spark == manifest.SPARK_VERSION
    (base,) = re.findall(r"^FROM (\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert base == f"spark:{spark}-scala2.13-java17-python3-ubuntu"
    line = ".".join(spark.split(".")[:2])
    assert _jar(r"spark-avro_2\.13").version == spark
    connector = _jar(r"spark-[\d.]+-bigquery")
    assert connector.group == "com.google.cloud.spark"
    assert connector.artifact == f"spark-{line}-bigquery", "connector built for another Spark"
    gcs = _jar("gcs-connector")
    assert gcs.classifier == "shaded" and gcs.version.startswith("4.0."), "Hadoop 3.4 line"


def test_image_bakes_in_the_jars_of_the_lock_file_with_checksums() -> None:
    text = DOCKERFILE.read_text()
    assert "COPY conf/jars.txt" in text
    assert "${url}.sha1" in text and "sha1sum -c" in text


def test_lock_file_coordinates_and_jar_names() -> None:
    assert Artifact.parse("a.b:c:1.0:jar:shaded").file_name == "c-1.0-shaded.jar"
    assert Artifact.parse("a.b:c:1.0").coordinate == "a.b:c:1.0"
    with pytest.raises(ValueError):
        Artifact.parse("a.b:c")
