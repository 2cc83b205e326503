#!/usr/bin/env bash
# The test command: setup, then the whole suite (unit + integration against a real Kafka and Elasticsearch).
# Pass pytest arguments to narrow it, e.g. `scripts/test.sh -m "not integration"` for the fast unit set.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
set +e
python3 -m pytest "$@"
status=$?
set -e
# pytest exits 5 when a selection collects no tests: not a failure of the code under test.
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests for this selection"
  exit 0
fi
exit "$status"
