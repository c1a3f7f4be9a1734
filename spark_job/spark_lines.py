"""The Spark lines spark_job supports, in one place: per line, the pyspark pin, the Scala suffix,
the official image the job image builds on, and the jars (Maven coordinates) the job runs with.

Everything else reads this table: ``make setup SPARK=<line>`` (the pin and the jars),
``docker/Dockerfile`` (its ``SPARK_LINE`` build argument; the jars are listed by running this
file), ``spark_job.deploy.manifest`` (``sparkVersion``) and local sessions (the jars' folder of
the running pyspark's line). ``tests/test_versions.py`` checks that they agree.

    python spark_job/spark_lines.py pin 3.5     # 3.5.9
    python spark_job/spark_lines.py jars 3.5    # one coordinate a line
    python spark_job/spark_lines.py venv 3.5    # .venv-3.5

Standard library only: ``make setup`` and the image run it before anything is installed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class SparkLine:
    """One Spark line (``major.minor``) and what the job runs with on it."""

    name: str
    pyspark: str
    scala: str
    #: The official ``spark`` image (Java 17, Python 3) that docker/Dockerfile builds on.
    image: str
    #: Maven coordinates ``group:artifact:version[:jar:classifier]``: the spark-bigquery
    #: connector built for this line, the shaded GCS connector for its Hadoop, spark-avro.
    jars: tuple[str, ...]
    #: Whether Spark's Python Data Source API (``pyspark.sql.datasource``) exists on the line.
    python_data_sources: bool

    @property
    def venv(self) -> str:
        """The checkout's virtual environment for this line (``make setup SPARK=<line>``)."""
        return ".venv" if self.name == DEFAULT_LINE else f".venv-{self.name}"

    @property
    def jars_dir(self) -> str:
        """The checkout's folder of this line's jars (relative to the repository root)."""
        return "jars" if self.name == DEFAULT_LINE else f"jars-{self.name}"


DEFAULT_LINE = "4.1"

LINES: dict[str, SparkLine] = {
    "4.1": SparkLine(
        name="4.1",
        pyspark="4.1.1",
        scala="2.13",
        image="spark:4.1.1-scala2.13-java17-python3-ubuntu",
        jars=(
            # Built for Spark 4.1; not served by the repository these machines reach (setup
            # says so in one line and the job runs with the storage-api engine).
            "com.google.cloud.spark:spark-4.1-bigquery:0.45.0",
            # The 4.0.x line is built for Hadoop 3.4, Spark 4's.
            "com.google.cloud.bigdataoss:gcs-connector:4.0.4:jar:shaded",
            "org.apache.spark:spark-avro_2.13:4.1.1",
        ),
        python_data_sources=True,
    ),
    "3.5": SparkLine(
        name="3.5",
        pyspark="3.5.9",
        scala="2.12",
        image="spark:3.5.9-scala2.12-java17-python3-ubuntu",
        jars=(
            "com.google.cloud.spark:spark-3.5-bigquery:0.42.1",
            # The hadoop3-2.2.x line: the 3.0.x connectors call Hadoop 3.3.5's openFile options,
            # which Spark 3.5's Hadoop (3.3.4) lacks (NoClassDefFoundError reading JSON/CSV).
            "com.google.cloud.bigdataoss:gcs-connector:hadoop3-2.2.28:jar:shaded",
            "org.apache.spark:spark-avro_2.12:3.5.9",
        ),
        python_data_sources=False,
    ),
}


def line_of(version: str) -> SparkLine | None:
    """The supported line of a Spark version such as ``3.5.9``; None for another line."""
    return LINES.get(".".join(version.split(".")[:2]))


def running_line() -> SparkLine:
    """The line of the pyspark this process imports (the default line for an unknown one)."""
    import pyspark

    return line_of(pyspark.__version__) or LINES[DEFAULT_LINE]


def main(argv: list[str]) -> int:
    usage = "usage: spark_lines.py {pin,jars,venv,jars-dir,image} LINE"
    if len(argv) != 2 or argv[1] not in LINES:
        print(f"{usage}; lines: {', '.join(LINES)}", file=sys.stderr)
        return 2
    what, line = argv[0], LINES[argv[1]]
    answers = {
        "pin": line.pyspark,
        "jars": "\n".join(line.jars),
        "venv": line.venv,
        "jars-dir": line.jars_dir,
        "image": line.image,
    }
    if what not in answers:
        print(usage, file=sys.stderr)
        return 2
    print(answers[what])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
