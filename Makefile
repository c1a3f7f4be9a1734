PYTHON ?= python3.11
#: The Spark line to set up and run: 4.1 (default) or 3.5 (spark_job/spark_lines.py lists them).
SPARK ?= 4.1
LINES := spark_job/spark_lines.py
VENV := $(shell python3 $(LINES) venv $(SPARK))
ifeq ($(VENV),)
$(error SPARK=$(SPARK): not a supported Spark line (see spark_job/spark_lines.py))
endif
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
#: The second line's environment, which `make test` also sets up and runs its lane on.
OTHER_LINE := 3.5
#: Tests without Spark, run first by `make test`.
FAST_TESTS := tests/unit tests/test_layout.py tests/test_spec.py tests/test_spec_options.py \
	tests/test_versions.py tests/test_resume_markers.py tests/test_zygote.py

.PHONY: setup run run-files test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(LINES) spark_job/dev/jvm_archive.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' "pyspark==$$(python3 $(LINES) pin $(SPARK))"
	$(PY) -m spark_job.dev.jars --line $(SPARK)
	$(PY) -m spark_job.dev.jvm_archive
	@touch $(STAMP)

run: setup
	$(PY) -m examples.bigquery_job

run-files: setup
	$(PY) -m examples.files_job

#: Tests of the real spark-bigquery connector: the 3.5 lane only (its connector is served here).
CONNECTOR_TESTS := tests/connector
OTHER_PY := $(shell python3 $(LINES) venv $(OTHER_LINE))/bin/python

#: Two pytest-xdist workers, each running whole files (module fixtures stay shared): one per
#: core; the suite keeps both busy (docs/testing.md).
WORKERS := -n 2 --dist loadfile

#: Where the 3.5 line's setup writes while the default line's tests run.
OTHER_SETUP_LOG := build/setup-$(OTHER_LINE).log

#: The whole suite on the default line, then the 3.5 lane: the connector tests and a smoke of
#: every feature (tests marked spark35) in .venv-3.5. Its setup (downloads, pip, the JVM
#: archive) runs meanwhile, its output in $(OTHER_SETUP_LOG) (shown if it fails).
test: setup
	@mkdir -p build
	@$(MAKE) --no-print-directory setup SPARK=$(OTHER_LINE) > $(OTHER_SETUP_LOG) 2>&1 & other=$$!; \
	echo "setting up the $(OTHER_LINE) line meanwhile: $(OTHER_SETUP_LOG)"; \
	$(PY) -m pytest -q $(FAST_TESTS) && \
	$(PY) -m pytest -q $(WORKERS) --durations=15 tests \
		$(addprefix --ignore=,$(FAST_TESTS) $(CONNECTOR_TESTS)); tested=$$?; \
	if ! wait $$other; then cat $(OTHER_SETUP_LOG); echo "make setup SPARK=$(OTHER_LINE) failed"; exit 1; fi; \
	exit $$tested
	$(OTHER_PY) -m pytest -q $(WORKERS) --durations=15 -m spark35 tests

lint: setup
	$(PY) -m ruff check spark_job tests benchmarks examples
	$(PY) -m ruff format --check spark_job tests benchmarks examples

#: bigquery_read.connector_ratio is measured on the 3.5 line, whose connector is served here.
bench: setup
	$(MAKE) --no-print-directory setup SPARK=$(OTHER_LINE)
	$(PY) -m benchmarks.run

clean:
	rm -rf .venv .venv-* build jars jars-* *.egg-info .pytest_cache
