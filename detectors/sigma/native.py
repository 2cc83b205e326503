"""The compiled field view: `view.py` built by mypyc into `_native/`, used only while it is current.

Building the field view is about a quarter of the engine's time per event, spent in small Python
functions (`LowTexts.__missing__`, `FieldView.__init__`, the event-data copy); compiled by mypyc the
same source runs them as C (bench/sigma.py: +17% events/s, same matches). `scripts/build_native.py`
compiles it and records the digest of the source it compiled; the package uses the build only when
that digest is the current source's, so an edited `view.py` never runs as its stale build. Without a
build (no C compiler, `VIGIL_NATIVE=0`) the pure-Python module runs: it is the reference semantics.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import logging
import os
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).parent
NATIVE_DIR = PACKAGE_DIR / "_native"  # the built extensions and their STAMP (not in git)
COMPILED = ("view",)  # the modules of this package that the build compiles
STAMP = "SOURCES.sha256"


def source_digest(package_dir: Path = PACKAGE_DIR) -> str:
    """The digest of the compiled modules' sources, as the build records it."""
    digest = hashlib.sha256()
    for name in COMPILED:
        digest.update(name.encode() + b"\0" + (package_dir / f"{name}.py").read_bytes() + b"\0")
    return digest.hexdigest()


def use_build(package_path: list[str], native_dir: Path = NATIVE_DIR, package_dir: Path = PACKAGE_DIR) -> bool:
    """Put a current build first on the package's search path; False (and left as is) otherwise."""
    if os.environ.get("VIGIL_NATIVE", "1") == "0":
        return False
    stamp = native_dir / STAMP
    if not stamp.is_file():
        return False
    if stamp.read_text(encoding="utf-8").strip() != source_digest(package_dir):
        log.warning("compiled Sigma field view in %s is stale (view.py changed): run scripts/build_native.py",
                    native_dir)  # fmt: skip
        return False
    package_path.insert(0, str(native_dir))
    return True


def is_compiled(module: ModuleType) -> bool:
    """Whether the module was loaded from an extension (the build), not from its source."""
    return str(getattr(module, "__file__", "")).endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
