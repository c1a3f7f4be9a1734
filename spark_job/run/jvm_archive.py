"""The JVM class-data-sharing archive of a local session: Spark's classes mapped, not loaded.

A fresh JVM spends seconds of a local job loading and verifying Spark's classes: the
SparkSession start and the first query's planning. ``make setup`` records the classes a local
job loads into a dynamic CDS archive (``-XX:ArchiveClassesAtExit``, see
:mod:`spark_job.dev.jvm_archive`); local sessions then start with
``-XX:SharedArchiveFile`` and map them from it.

An archive only fits the Java build, the Spark jars and the extra jars it was recorded with, so
its file name carries a digest of them: a session uses the archive whose name matches, and runs
without one otherwise (``make setup`` records a new one). ``SPARK_JOB_JVM_ARCHIVE=off`` turns
it off.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

ARCHIVE_ENV = "SPARK_JOB_JVM_ARCHIVE"
#: Where the driver's JVM options go that do not take the user's ``extraJavaOptions`` away.
JAVA_OPTIONS = "spark.driver.defaultJavaOptions"
#: The JVM's own messages about the archive (a mismatch means: run without it) stay quiet.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def _java(environ: Mapping[str, str]) -> str | None:
    """The java binary Spark's launcher runs: ``$JAVA_HOME/bin/java``, else the PATH's."""
    home = environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    return os.path.realpath(java) if java and os.path.isfile(java) else None


def archive_path(jars: Sequence[Path], environ: Mapping[str, str] = os.environ) -> Path | None:
    """The archive for this Java, this pyspark and ``jars`` (the session's extra class path),
    in the jars' folder; None without a java binary or without jars."""
    java = _java(environ)
    if java is None or not jars:
        return None
    import pyspark

    facts = [java, str(os.stat(java).st_mtime_ns), pyspark.__version__]
    facts += [f"{jar.name}:{jar.stat().st_size}" for jar in jars]
    digest = hashlib.sha256("\n".join(facts).encode()).hexdigest()[:16]
    return jars[0].parent / f"spark-classes-{digest}.jsa"


def java_options(jars: Sequence[Path], environ: Mapping[str, str] = os.environ) -> str | None:
    """The driver JVM's options that map the archive, when there is one and it is wanted."""
    if environ.get(ARCHIVE_ENV) == "off":
        return None
    path = archive_path(jars, environ)
    if path is None or not path.is_file():
        return None
    return f"-XX:SharedArchiveFile={shlex.quote(str(path))} {QUIET}"
