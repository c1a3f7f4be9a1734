"""The job report: statistics gathered while scoring, drift against a reference, report.json
and a self-contained report.html (see docs/report.md).

``collector`` (task side), ``stats``, ``sketch`` and ``frequent`` (mergeable summaries),
``document`` (the JSON), ``drift``, ``html``, ``writer`` (where and how it is written) and
``job_report`` (what the runner calls).
"""
