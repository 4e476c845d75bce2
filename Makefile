# The two set-up commands of README.md. Both create .venv on first use.
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs clean bench bench-quick

demo: $(STAMP)
	$(VENV)/bin/statusbot demo

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy statusbot

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache

docs: $(STAMP)  ## regenerate README's generated sections (config reference, template variables)
	$(VENV)/bin/python -W ignore -m statusbot.reference README.md

bench: $(STAMP)  ## every benchmark (≈30 min on 2 cores), written to BENCHMARKS.md
	bash bench/peers.sh
	$(VENV)/bin/python bench/all.py

bench-quick: $(STAMP)  ## every benchmark briefly (≈3 min): do they still run?
	bash bench/peers.sh
	$(VENV)/bin/python bench/all.py --quick --out /tmp/BENCHMARKS.quick.md
