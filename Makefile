PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
#: Tests without Spark, run first by `make test`.
FAST_TESTS := tests/unit tests/test_layout.py tests/test_spec.py tests/test_spec_options.py \
	tests/test_versions.py tests/test_resume_markers.py tests/test_zygote.py

.PHONY: setup run run-files test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml conf/jars.txt spark_job/dev/jvm_archive.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m spark_job.dev.jars
	$(PY) -m spark_job.dev.jvm_archive
	@touch $(STAMP)

run: setup
	$(PY) -m examples.bigquery_job

run-files: setup
	$(PY) -m examples.files_job

test: setup
	$(PY) -m pytest -q $(FAST_TESTS)
	$(PY) -m pytest -q --durations=15 tests $(addprefix --ignore=,$(FAST_TESTS))

lint: setup
	$(PY) -m ruff check spark_job tests benchmarks examples
	$(PY) -m ruff format --check spark_job tests benchmarks examples

bench: setup
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) build jars *.egg-info .pytest_cache
