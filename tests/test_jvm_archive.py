"""The JVM class-data-sharing archive ``make setup`` records: local sessions map Spark's
classes from it, and an archive that does not fit is never used."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from spark_job.run import jvm_archive
from spark_job.run.session import local_jars

#: A local session whose JVM must map the archive (-Xshare:on fails otherwise) and logs where
#: each class came from.
PROBE = """
import sys
from spark_job.run import jvm_archive
from spark_job.run.session import build_session, local_jars
options = jvm_archive.java_options(local_jars())
options += " -Xshare:on -Xlog:class+load=info:file=" + sys.argv[1]
spark = build_session("archive-probe", local=True, conf={jvm_archive.JAVA_OPTIONS: options})
assert spark.range(10).selectExpr("sum(id)").first()[0] == 45
spark.stop()
"""


def test_setup_recorded_an_archive_that_local_sessions_map(tmp_path: Path) -> None:
    jars = local_jars()
    path = jvm_archive.archive_path(jars)
    assert path is not None and path.is_file(), "make setup records the archive"
    assert jvm_archive.java_options(jars) is not None
    log = tmp_path / "classes.log"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(log)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "SPARK_JOB_ZYGOTE": "off"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    loads = log.read_text().splitlines()
    shared = [line for line in loads if "shared objects file (top)" in line]
    spark_classes = [line for line in shared if " org.apache.spark." in line]
    assert len(spark_classes) > 1000, f"{len(spark_classes)} of {len(loads)} from the archive"
    assert "cds" not in done.stdout.lower()


def test_the_archive_name_follows_the_jars_and_java(tmp_path: Path) -> None:
    one = tmp_path / "a.jar"
    one.write_bytes(b"x")
    two = tmp_path / "b.jar"
    two.write_bytes(b"yy")
    first = jvm_archive.archive_path([one])
    assert first is not None and first.parent == tmp_path
    assert jvm_archive.archive_path([one, two]) != first
    two.write_bytes(b"y")  # a jar of another size: another archive
    assert jvm_archive.archive_path([one, two]) not in (first, None)
    assert jvm_archive.archive_path([]) is None
    assert jvm_archive.archive_path([one], {"JAVA_HOME": str(tmp_path / "no-java")}) is None


def test_no_archive_or_switched_off_means_no_options(tmp_path: Path) -> None:
    jar = tmp_path / "a.jar"
    jar.write_bytes(b"x")
    assert jvm_archive.java_options([jar]) is None  # none recorded for these jars
    path = jvm_archive.archive_path([jar])
    assert path is not None
    path.write_bytes(b"recorded")
    assert jvm_archive.java_options([jar]) == (
        f"-XX:SharedArchiveFile={path} -Xlog:cds=off -Xlog:cds+dynamic=off"
    )
    assert jvm_archive.java_options([jar], {jvm_archive.ARCHIVE_ENV: "off"}) is None
