#!/usr/bin/env bash
# Install everything Vigil needs on a fresh machine: Python packages and the local stack's servers.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"
# The Sigma field view compiled by mypyc (detectors/sigma/native.py); without a C compiler the source runs.
python3 scripts/build_native.py || echo "warning: could not compile the Sigma field view: the pure-Python one runs (slower)" >&2
# Kafka jars and the Elasticsearch distribution from Maven Central (cached in ~/.m2 and stack/lib).
python3 -c "from stack.local import fetch; fetch()"
# Chinese patrol records and evaluations in PDF need a CJK font (WeasyPrint and matplotlib use fontconfig).
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    # A fresh machine may have no package lists yet: update once if the first try fails.
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-wqy-microhei >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-wqy-microhei >/dev/null; }; } \
      || echo "warning: could not install fonts-wqy-microhei: Chinese text in PDF reports will not render" >&2
  else
    echo "warning: no CJK font (install fonts-noto-cjk or fonts-wqy-microhei): Chinese PDF reports will not render" >&2
  fi
fi
# The web console's browser libraries (htmx, Chart.js, flatpickr) from the npm registry, as locked.
if command -v npm >/dev/null; then
  (cd api/console && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
else
  echo "warning: npm not found: the web console (/console) will have no scripts or charts" >&2
fi
# The console's browser tests drive Debian's Chromium (a browser cannot be downloaded by the test tools here).
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; }; } \
      || echo "warning: could not install chromium: the console's browser tests will be skipped" >&2
  else
    echo "warning: no chromium (apt-get install chromium chromium-driver): the console's browser tests will be skipped" >&2
  fi
fi
