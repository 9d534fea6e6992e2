#!/usr/bin/env bash
# The GPU check: one command, about 8 minutes on one H100/H200-class GPU.
#   1. the real-model tests (tests/test_real_model.py) on CUDA, and the tests that only run with
#      a GPU (the KL reference on the CPU beside a GPU policy);
#   2. the rollout (P1: 128- and 391-token prompts, 1 and 4 episodes/env), update, KL and
#      end-to-end (P3, textgym vs TRL's GRPOTrainer) benchmarks on CUDA, in float32 and under
#      bfloat16 autocast (float32 master weights).
# Figures go to one JSON file that the README's GPU table cites; each step's log sits beside it.
# Needs textgym installed (with its dev extra) and a CUDA GPU; `pip install trl` for the P3 rows.
# Usage: bash benchmarks/gpu_check.sh [OUT.json]   (an existing OUT is never overwritten)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/results/gpu_check-$(date +%Y-%m-%d).json}"
py="${PYTHON:-python3}"
if [[ -e "$out" ]]; then echo "gpu_check: $out exists; name another file" >&2; exit 2; fi
if ! "$py" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())'; then
  echo "gpu_check: no CUDA GPU visible to torch; run this on a GPU machine" >&2; exit 2
fi
logs="${out%.json}.logs"; mkdir -p "$logs"
export TEXTGYM_BENCH_JSON="$logs/figures.jsonl" PYTHONUNBUFFERED=1
failed=()
step() {  # step NAME SECONDS COMMAND...: run one step with a time limit, log it, note failures
  local name=$1 limit=$2; shift 2
  echo "== $name"
  (cd "$here" && timeout "$limit" "$@") >"$logs/$name.log" 2>&1 || failed+=("$name")
  grep -E '^(ratio|\| |[0-9]+ passed|FAILED|max )' "$logs/$name.log" | tail -12
}
step real_model_tests 150 env TEXTGYM_TEST_DEVICE=cuda "$py" -P -m pytest -q -p no:cacheprovider \
  "$here/../tests/test_real_model.py"
step gpu_only_tests 90 "$py" -P -m pytest -q -p no:cacheprovider \
  "$here/../tests/test_device_placement.py"
for dtype in float32 autocast; do
  for setting in "128 1" "391 1" "128 4"; do
    set -- $setting
    step "rollout_${dtype}_p$1_e$2" 90 "$py" bench_rollout.py --device cuda --dtype "$dtype" \
      --prompt "$1" --episodes "$2"
  done
  step "update_$dtype" 90 "$py" bench_update.py --device cuda --dtype "$dtype" --new 32
  step "kl_$dtype" 90 "$py" bench_kl.py --device cuda --dtype "$dtype" --episodes 1
  step "trl_$dtype" 150 "$py" bench_trl.py --device cuda --dtype "$dtype" --steps 3
done
"$py" - "$out" "$TEXTGYM_BENCH_JSON" "${failed[*]:-}" <<'PY'
import datetime, json, os, sys, tempfile
import torch
out, lines, failed = sys.argv[1], sys.argv[2], sys.argv[3].split()
records = [json.loads(x) for x in open(lines)] if os.path.exists(lines) else []
report = {
    "date": datetime.date.today().isoformat(),
    "gpu": torch.cuda.get_device_name(),
    "torch": torch.__version__,
    "failed_steps": failed,
    "records": records,
}
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out) or ".", suffix=".tmp")
with os.fdopen(fd, "w") as f:
    json.dump(report, f, indent=1)
os.link(tmp, out)  # fails rather than overwrite a file that appeared meanwhile
os.unlink(tmp)
print(f"figures: {out} ({len(records)} records; failed steps: {failed or 'none'})")
PY
[[ ${#failed[@]} -eq 0 ]]
