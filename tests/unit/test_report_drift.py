"""Drift (PSI, Jensen–Shannon distance) and the report document, from summaries: no Spark."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest

from spark_job.report.collector import PartialReport
from spark_job.report.document import RunFacts, build_report, to_json_text
from spark_job.report.drift import column_drift, compare, js_distance, psi
from spark_job.report.html import render
from spark_job.report.stats import ColumnStats


def _summary(values: list | np.ndarray, arrow_type: pa.DataType | None = None) -> dict:
    stats = ColumnStats.for_type(arrow_type or pa.float64())
    stats.add(pa.array(values, type=arrow_type or pa.float64()))
    return stats.to_json()


def test_psi_and_js_distance_formulas() -> None:
    p, q = [0.5, 0.5], [0.9, 0.1]
    assert psi(p, q) == pytest.approx(0.4 * math.log(0.5 / 0.9) * -1 + 0.4 * math.log(5))
    m = [0.7, 0.3]
    kl = lambda a: sum(x * math.log2(x / y) for x, y in zip(a, m, strict=True))  # noqa: E731
    assert js_distance(p, q) == pytest.approx(math.sqrt(0.5 * kl(p) + 0.5 * kl(q)))
    assert psi(p, p) == 0.0 and js_distance(p, p) == 0.0
    assert js_distance([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)  # disjoint: the maximum


def test_numbers_drift_when_shifted_not_when_reshuffled() -> None:
    rng = np.random.default_rng(11)
    values = rng.normal(0, 1, 20_000)
    reference = _summary(values)
    same = column_drift(_summary(rng.permutation(values)), reference, 0.2)
    assert same is not None and same["psi"] == 0.0 and not same["flagged"]
    resampled = column_drift(_summary(rng.normal(0, 1, 20_000)), reference, 0.2)
    assert resampled is not None and resampled["psi"] < 0.02 and not resampled["flagged"]
    shifted = column_drift(_summary(values + 1.0), reference, 0.2)
    assert shifted is not None and shifted["flagged"] and shifted["psi"] > 0.5
    assert 0.3 < shifted["js_distance"] <= 1.0
    assert len(shifted["bins"]) == 10  # the reference's deciles
    assert sum(b["reference"] for b in shifted["bins"]) == pytest.approx(1.0)


def test_categories_and_missing_values_drift() -> None:
    reference = _summary(["a"] * 50 + ["b"] * 50, pa.string())
    moved = column_drift(_summary(["a"] * 90 + ["b"] * 5 + ["z"] * 5, pa.string()),
                         reference, 0.2)  # fmt: skip
    assert moved is not None and moved["flagged"]
    assert [b["bin"] for b in moved["bins"]] == ["a", "b", "(other)"]
    assert moved["bins"][2]["current"] == pytest.approx(0.05)
    nulls = column_drift(_summary([1.0] * 50 + [None] * 50), _summary([1.0] * 100), 0.2)
    assert nulls is not None and nulls["flagged"] and nulls["bins"][-1]["bin"] == "(missing)"
    assert column_drift(_summary(["a"], pa.string()), _summary([1.0]), 0.2) is None


def _document(values: np.ndarray, labels: list[str]) -> dict:
    part = PartialReport({0})
    for name, array in (("x", pa.array(values)), ("kind", pa.array(labels))):
        part.features[name] = ColumnStats.for_type(array.type)
        part.features[name].add(array)
    part.prediction["prediction"] = ColumnStats.for_type(pa.float64(), with_top=True)
    part.prediction["prediction"].add(pa.array(values * 2))
    facts = RunFacts("job", "run1", "/out", "/model", {"read": len(values)},
                     {"predict": 1.5}, {"MODEL_ERROR": 2})  # fmt: skip
    return json.loads(to_json_text(build_report(part, facts)))


def test_a_report_compares_with_an_earlier_one_read_back_from_json() -> None:
    rng = np.random.default_rng(12)
    values = rng.normal(5, 2, 3000)
    labels = list(rng.choice(["red", "green"], 3000))
    reference = _document(values, labels)
    assert reference["prediction"]["prediction"]["histogram"]["counts"]
    assert sum(reference["features"]["x"]["histogram"]["counts"]) == 3000
    calm = compare(_document(rng.permutation(values), labels[::-1]), reference, 0.2, "ref.json")
    assert calm["flagged"] == [] and set(calm["features"]) == {"x", "kind"}
    drifted = compare(_document(values + 3, labels), reference, 0.2, "ref.json")
    assert {(f["section"], f["column"]) for f in drifted["flagged"]} == {
        ("features", "x"), ("prediction", "prediction")}  # fmt: skip


def test_html_is_one_self_contained_page() -> None:
    rng = np.random.default_rng(13)
    document = _document(rng.normal(0, 1, 500), ["a<b>"] * 500)
    document["drift"] = compare(document, document, 0.2, "ref.json")
    page = render(document)
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") >= 3
    assert "a&lt;b&gt;" in page and "a<b>" not in page  # values escaped
    for external in ("<script", "http://", "https://", "<link", "src="):
        assert external not in page


def test_a_reference_must_be_a_report_with_the_same_sketches(tmp_path) -> None:
    from spark_job.errors import UserError
    from spark_job.report.writer import read_reference

    good = tmp_path / "good.json"
    good.write_text(to_json_text(_document(np.arange(10.0), ["a"] * 10)))
    assert read_reference(str(good))["report_version"] == 1
    other = json.loads(good.read_text())
    other["features"]["x"]["sketch"]["alpha"] = 0.01
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(UserError, match=r"features 'x': alpha 0.01, not 0.0078125"):
        read_reference(str(tmp_path / "other.json"))
    (tmp_path / "text.json").write_text("not json")
    with pytest.raises(UserError, match=r"^report.reference: '.*text.json' is not JSON"):
        read_reference(str(tmp_path / "text.json"))
