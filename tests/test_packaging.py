"""Installing WaveCap puts everything under the `wavecap` namespace."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_installs_only_the_wavecap_namespace(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("wavecap-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"wavecap", next(t for t in tops if t.endswith(".dist-info"))}
    for stage in ("teacher", "student", "physics", "datasets", "body", "geometry"):
        assert f"wavecap/{stage}/__init__.py" in names


def test_stage_packages_import_under_the_namespace():
    import wavecap.datasets
    import wavecap.physics

    assert Path(wavecap.datasets.__file__).parent == REPO / "datasets"
    assert Path(wavecap.physics.__file__).parent == REPO / "physics"
