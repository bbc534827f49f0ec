#!/usr/bin/env python3
"""Fetch ONNX Runtime's shared library from the pinned `onnxruntime` wheel on PyPI.

lsmedic loads ONNX Runtime at run time through `ort`'s `load-dynamic` feature, so no build
script downloads anything. This script (run by the Makefile when the library is missing)
asks pip for the pinned wheel, checks its SHA-256, and extracts only
`onnxruntime/capi/libonnxruntime.so.<version>` into the destination folder.

Usage: fetch_onnxruntime.py DEST_DIR
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# ort 2.0.0-rc.15 speaks ONNX Runtime's 1.31 API (`api-31`).
VERSION = "1.31.1"
# The wheel is CPython-3.11 tagged, but the shared library inside does not depend on Python.
WHEELS = {
    "x86_64": (
        "manylinux_2_28_x86_64",
        "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
    ),
}


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    dest = Path(sys.argv[1]).resolve()
    target = dest / f"libonnxruntime.so.{VERSION}"
    if target.exists():
        print(f"ONNX Runtime {VERSION} already at {target}")
        return 0
    machine = platform.machine()
    if machine not in WHEELS:
        print(
            f"no pinned onnxruntime wheel for {machine}; set ORT_DYLIB_PATH to your own "
            f"libonnxruntime.so ({VERSION} API)",
            file=sys.stderr,
        )
        return 1
    plat, sha256 = WHEELS[machine]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--only-binary=:all:", "--implementation", "cp", "--python-version", "3.11",
            "--abi", "cp311", "--platform", plat, f"onnxruntime=={VERSION}", "-d", tmp,
        ]
        subprocess.run(cmd, check=True)
        wheels = list(Path(tmp).glob("onnxruntime-*.whl"))
        if len(wheels) != 1:
            print(f"expected one onnxruntime wheel, pip gave {wheels}", file=sys.stderr)
            return 1
        digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
        if digest != sha256:
            print(f"{wheels[0].name}: sha256 {digest} != pinned {sha256}", file=sys.stderr)
            return 1
        member = f"onnxruntime/capi/libonnxruntime.so.{VERSION}"
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(member)
        dest.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_bytes(data)
        partial.rename(target)
    print(f"ONNX Runtime {VERSION} extracted to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
