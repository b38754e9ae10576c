"""The package is installable: pip builds a wheel from pyproject.toml with its standard backend
(setuptools), typed (py.typed), with its dependencies declared as ranges."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pip_builds_a_typed_wheel_with_declared_dependencies(tmp_path: Path) -> None:
    # --no-build-isolation --no-index: the backend and nothing else comes from this machine.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(tmp_path),
         str(ROOT)],
        check=True, cwd=tmp_path,
    )
    [wheel] = list(tmp_path.glob("writ-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert {"writ/py.typed", "writ/client.py", "writ/aio.py", "writ/_exchange.py", "writ/verifier/verifier.py", "writ/verifier/starlette.py"} <= names
    assert not any("tests" in n for n in names)
    requires = [line[len("Requires-Dist: "):] for line in metadata.splitlines() if line.startswith("Requires-Dist: ")]

    def declared(name: str, *parts: str) -> bool:
        # Setuptools versions spell it "httpx<1,>=0.23" or "httpx (<1,>=0.23)": compare the parts.
        return any(r.startswith(name) and all(p in r for p in parts) for r in requires)

    assert declared("httpx", "<1", ">=0.23"), requires
    assert declared("PyJWT[crypto]", "<3", ">=2.6"), requires
    assert declared("cryptography", ">=38"), requires
    assert declared("redis", "<6", ">=4.3", "extra == ", "redis"), requires
    assert declared("starlette", "<1", ">=0.26", "extra == ", "starlette"), requires
