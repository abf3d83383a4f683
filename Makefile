# The one test command is `make test`: it prepares the test bed (Docker Engine,
# Prometheus, Alertmanager, test images, venv) when parts are missing, lints,
# type-checks and runs the whole suite against real parts.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: test testbed lint format bench demo clean

test: testbed lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

testbed:
	@bash scripts/testbed.sh

lint: testbed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Benchmarks print figures (they are not tests); run them on a quiet machine.
BENCHES ?= exporter_scrape webhook_intake slow_clients heal_latency time_to_heal vs_autoheal diagnosis diagnosis_faults llm_diagnosis llm_eval fleet
bench: testbed
	@for b in $(BENCHES); do echo "== bench.$$b"; $(PY) -m bench.$$b || exit 1; done

demo: testbed
	$(PY) -m demo

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache
