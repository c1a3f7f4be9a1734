"""Fetch the JVM jars of a Spark line into its folder (development tooling: ``make setup``).

    python -m spark_job.dev.jars [--line 4.1|3.5] [--into DIR]

The jars of each line are listed in :mod:`spark_job.spark_lines`; they go to the line's folder
of the checkout (``jars/`` for the default line, ``jars-3.5/`` for 3.5) unless ``--into``.

Each jar comes from Maven Central through ``mvn dependency:copy`` with strict checksums (``-C``:
a jar whose SHA-1 differs from the one the repository publishes is refused). A jar already in the
folder is not fetched again. A jar that cannot be had (no ``mvn``, no repository, or the
repository does not serve it) is reported in one line and setup goes on: the job then runs
without it (``engine: auto`` picks the storage-api engine; gs:// files use the Python reader).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from spark_job.spark_lines import DEFAULT_LINE, LINES

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Artifact:
    """One Maven coordinate ``group:artifact:version[:jar[:classifier]]``."""

    group: str
    artifact: str
    version: str
    classifier: str = ""

    @classmethod
    def parse(cls, coordinate: str) -> Artifact:
        parts = coordinate.strip().split(":")
        if len(parts) not in (3, 4, 5) or not all(parts):
            raise ValueError(f"not a Maven coordinate: {coordinate!r}")
        group, artifact, version = parts[:3]
        return cls(group, artifact, version, parts[4] if len(parts) == 5 else "")

    @property
    def coordinate(self) -> str:
        tail = f":jar:{self.classifier}" if self.classifier else ""
        return f"{self.group}:{self.artifact}:{self.version}{tail}"

    @property
    def file_name(self) -> str:
        suffix = f"-{self.classifier}" if self.classifier else ""
        return f"{self.artifact}-{self.version}{suffix}.jar"


def line_artifacts(line: str = DEFAULT_LINE) -> list[Artifact]:
    """The jars of the Spark ``line``."""
    return [Artifact.parse(coordinate) for coordinate in LINES[line].jars]


def fetch(artifact: Artifact, into: Path) -> str | None:
    """Copy ``artifact`` into ``into``; None when done, else why it could not be had."""
    if (into / artifact.file_name).is_file():
        return None
    mvn = shutil.which("mvn")
    if mvn is None:
        return "mvn is not installed"
    command = [
        mvn, "--batch-mode", "--quiet", "--strict-checksums",
        "dependency:copy", f"-Dartifact={artifact.coordinate}", f"-DoutputDirectory={into}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode == 0 and (into / artifact.file_name).is_file():
        return None
    errors = [line for line in done.stdout.splitlines() if "ERROR" in line]
    if any("not found" in line or "Could not find" in line for line in errors):
        return "not served by the repository"
    if any("Checksum" in line or "checksum" in line for line in errors):
        return "checksum mismatch"
    return "mvn failed" + (f": {errors[0][:200]}" if errors else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spark_job.dev.jars", description=__doc__)
    parser.add_argument("--line", choices=sorted(LINES), default=DEFAULT_LINE)
    parser.add_argument("--into", type=Path, help="default: the line's folder of the checkout")
    args = parser.parse_args(argv)
    into = args.into or REPO_ROOT / LINES[args.line].jars_dir
    into.mkdir(parents=True, exist_ok=True)
    missing = []
    for artifact in line_artifacts(args.line):
        reason = fetch(artifact, into)
        if reason:
            missing.append(f"{artifact.coordinate} ({reason})")
    if missing:
        print(f"setup: jars missing, the job runs without them: {'; '.join(missing)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
