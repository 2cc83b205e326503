"""Write docs/attack-coverage.md: per real attack file, the alerts the replay raises for its technique.

    python3 scripts/attack_coverage.py [--check]

`--check` writes nothing and exits 1 when the committed table differs from a fresh run.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.settings import Settings  # noqa: E402
from detectors.coverage import coverage, markdown  # noqa: E402
from detectors.registry import build_plan  # noqa: E402
from detectors.stream import build_engine  # noqa: E402

ROOT = REPO.parent / "shared" / "datasets" / "attack" / "mdecrevoisier"
OUT = REPO / "docs" / "attack-coverage.md"


def main() -> int:
    settings = Settings()
    print(f"loading rules from {[str(d) for d in settings.sigma_rule_dirs]}...", file=sys.stderr)
    engine = build_engine(settings)
    rows = coverage(ROOT, build_plan(settings, engine).replay_pipeline)
    text = markdown(rows, len(engine.rules))
    covered = sum(r.covered for r in rows)
    print(f"{covered}/{len(rows)} files covered", file=sys.stderr)
    if "--check" in sys.argv[1:]:
        return 0 if OUT.exists() and OUT.read_text(encoding="utf-8") == text else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
