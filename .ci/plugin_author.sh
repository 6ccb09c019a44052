#!/usr/bin/env bash
# The plugin author's path of docs/plugins.md ("From install to leaderboard, and back"), run as
# written in a fresh virtual environment: install tlbench and tlbench-bitfit, list the plugin, run
# its conformance tests, run a suite naming it and find its leaderboard row, uninstall it and check
# that validation names the distribution to install. The commands are read from the docs (the block
# after the "ci: plugin author" marker), so the docs cannot drift from what works.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
if [ -z "${TLBENCH_DATA_DIR:-}" ] && [ -d "$root/../shared/data" ]; then
  TLBENCH_DATA_DIR=$(cd "$root/../shared/data" && pwd)
  export TLBENCH_DATA_DIR
fi
commands=$(awk '/<!-- ci: plugin author -->/{found=1; next} found && /^```/{if (inblock) exit; inblock=1; next} inblock{print}' docs/plugins.md)
if [ -z "$commands" ]; then
  echo "docs/plugins.md has no block after <!-- ci: plugin author -->" >&2
  exit 1
fi
rm -rf .venv-author results/bitfit_example
started=$SECONDS
# a scratch cache: the run must not reuse the main environment's tokenized splits
TLBENCH_CACHE_DIR=$(mktemp -d) bash -euo pipefail -xc "$commands"
rm -rf .venv-author results/bitfit_example
echo "plugin author's path: ok in $((SECONDS - started)) s"
