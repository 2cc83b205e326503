#!/usr/bin/env bash
# The main job: install, start the local stack, replay the real sample logs end to end, print the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec vigil demo "$@"
