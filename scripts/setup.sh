#!/usr/bin/env bash
# Install everything Vigil needs on a fresh machine: Python packages and the local stack's servers.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"
# Kafka jars and the Elasticsearch distribution from Maven Central (cached in ~/.m2 and stack/lib).
python3 -c "from stack.local import fetch; fetch()"
