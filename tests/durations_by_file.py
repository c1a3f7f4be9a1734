"""Seconds per test file from pytest's ``--durations=0`` report (docs/testing.md):

pytest -q -p no:cacheprovider --durations=0 tests ... > run.log
python -m tests.durations_by_file run.log
"""

from __future__ import annotations

import collections
import re
import sys

LINE = re.compile(r"([\d.]+)s (call|setup|teardown)\s+(tests/[\w/]+\.py)::")


def by_file(lines: list[str]) -> collections.Counter[str]:
    seconds: collections.Counter[str] = collections.Counter()
    for line in lines:
        found = LINE.match(line)
        if found:
            seconds[found[3]] += float(found[1])
    return seconds


def main(path: str) -> None:
    with open(path) as report:
        seconds = by_file(report.readlines())
    for name, total in seconds.most_common():
        print(f"{total:8.1f}  {name}")
    print(f"{sum(seconds.values()):8.1f}  in all")


if __name__ == "__main__":
    main(sys.argv[1])
