"""The public hardware API: names, lazy lava import."""
from __future__ import annotations

import subprocess
import sys

import snnkit.hardware as hw


def test_import_does_not_import_lava_nir_or_h5py() -> None:
    code = ("import sys, snnkit.hardware as h; h.compare; h.energy; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('lava', 'nir', 'nirtorch', 'h5py')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names() -> None:
    for name in ("trace", "to_lava", "compare", "export_netx", "load_netx", "export_nir", "import_nir", "count_ops",
                 "count_lava", "energy", "quantize_plan", "LavaNetwork", "CompareReport", "import_lava"):
        assert callable(getattr(hw, name)), name
    from snnkit.hardware.compare import CompareReport  # importing the submodule keeps the function bound

    assert callable(hw.compare) and CompareReport is hw.CompareReport
