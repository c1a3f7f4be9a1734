"""Fetch the JVM jars of ``conf/jars.txt`` into ``jars/`` (development tooling: ``make setup``).

    python -m spark_job.dev.jars [--lock conf/jars.txt] [--into jars]

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

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK_FILE = REPO_ROOT / "conf" / "jars.txt"
JARS_DIR = REPO_ROOT / "jars"


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


def read_lock(path: Path = LOCK_FILE) -> list[Artifact]:
    """The artifacts listed in ``path`` (comments and blank lines skipped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Artifact.parse(line) for line in lines if line]


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
    parser.add_argument("--lock", type=Path, default=LOCK_FILE)
    parser.add_argument("--into", type=Path, default=JARS_DIR)
    args = parser.parse_args(argv)
    args.into.mkdir(parents=True, exist_ok=True)
    missing = []
    for artifact in read_lock(args.lock):
        reason = fetch(artifact, args.into)
        if reason:
            missing.append(f"{artifact.coordinate} ({reason})")
    if missing:
        print(f"setup: jars missing, the job runs without them: {'; '.join(missing)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
