"""`import netcore` loads NumPy and nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("optuna", "ray", "pandas", "matplotlib", "sklearn", "scipy", "torch", "hpsearch")


def test_import_netcore_loads_no_heavy_packages():
    code = (
        "import json, sys, netcore\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert "numpy" in loaded
    assert loaded.isdisjoint(FORBIDDEN), sorted(loaded & set(FORBIDDEN))
