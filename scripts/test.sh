#!/usr/bin/env bash
# Install everything, bring up the services, then lint, type-check and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
log=$(mktemp)
if ! python3 -m pip install -q --disable-pip-version-check -e ".[dev]" >"$log" 2>&1; then
  grep -v "is ignored: it is neither" "$log"; exit 1
fi
bash scripts/services.sh
echo "== ruff"; python3 -m ruff check src tests benchmarks
echo "== mypy"; python3 -m mypy
echo "== pytest"; python3 -m pytest -q "$@"
