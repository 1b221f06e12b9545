"""Smoke test of the built desktop bundle (packaging/build.sh). Building takes minutes and several GB,
so CI does not build it; this test runs when a bundle exists (dist/cnnviz) or CNNVIZ_BUNDLE names one.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = Path(os.environ.get("CNNVIZ_BUNDLE", ROOT / "dist" / "cnnviz" / "cnnviz"))


@pytest.mark.skipif(not BUNDLE.is_file(), reason="no built bundle: run packaging/build.sh first")
def test_bundle_smoke(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "packaging" / "smoke_test.sh"), str(BUNDLE)], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bundle smoke test passed" in result.stdout and "cnnviz 0." in result.stdout
