"""Compile the Sigma field view (detectors/sigma/view.py) with mypyc into detectors/sigma/_native.

    python3 scripts/build_native.py [--root DIR] [--force]

`--root`: the directory holding the `detectors` package (default: this checkout; the Docker image
passes its site-packages). Nothing is rebuilt while the recorded source digest is current. The
package uses the build only while that digest matches (detectors/sigma/native.py), so a failed or
missing build leaves the pure-Python view in use: slower, same results. Needs mypy and a C compiler.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from contextlib import chdir
from pathlib import Path

PACKAGE = Path("detectors", "sigma")


def build(root: Path, force: bool) -> str:
    sys.path.insert(0, str(root))
    os.environ["VIGIL_NATIVE"] = "0"  # the build imports the source: never a (maybe broken) earlier build
    from detectors.sigma import native  # the root's package: its digest, its build directory

    package_dir = root / PACKAGE
    native_dir = package_dir / native.NATIVE_DIR.name
    digest = native.source_digest(package_dir)
    stamp = native_dir / native.STAMP
    if not force and stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == digest:
        return f"compiled field view is current ({native_dir})"
    from mypyc.build import mypycify
    from setuptools import setup

    started = time.monotonic()
    print("compiling the Sigma field view with mypyc (about a minute)...", flush=True)
    with tempfile.TemporaryDirectory(prefix="vigil-native-") as tmp, chdir(root):
        modules = [str(PACKAGE / f"{name}.py") for name in native.COMPILED]
        build_ext = ["build_ext", "--build-lib", os.path.join(tmp, "lib"), "--build-temp", os.path.join(tmp, "temp")]
        with warnings.catch_warnings():  # setuptools notes the checkout's [tool.setuptools] table: not ours
            warnings.simplefilter("ignore")
            setup(
                name="vigil-native",
                # a named group keeps mypyc's shared runtime in the package (`compiled__mypyc`), not top-level
                ext_modules=mypycify(modules, target_dir=os.path.join(tmp, "c"), group_name="detectors.sigma.compiled"),
                script_args=["--quiet", *build_ext],
            )
        built = sorted((Path(tmp, "lib") / PACKAGE).glob("*.so"))
        if not built:
            raise RuntimeError("mypyc produced no extension")
        shutil.rmtree(native_dir, ignore_errors=True)
        native_dir.mkdir()
        for path in built:
            shutil.copy2(path, native_dir / path.name)
    stamp.write_text(digest + "\n", encoding="utf-8")
    names = ", ".join(p.name for p in built)
    return f"compiled field view built in {time.monotonic() - started:.0f} s: {names} in {native_dir}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--force", action="store_true", help="rebuild even when the build is current")
    args = parser.parse_args()
    print(build(args.root.resolve(), args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())
