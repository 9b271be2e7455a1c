"""Fuzzing every importer's parser: damaged input ends in a WaveCapError or a valid session, never a crash.

Each test starts from a valid fixture file and damages it (truncation, wrong
field counts, text in numeric columns, empty frames, huge or non-finite
values, random bytes, headers claiming huge shapes). Runs are derandomised,
so they are repeatable.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wavecap.datasets import validate_session
from wavecap.datasets.importers import import_images, import_mmbody, import_mmfi, import_ti_csv
from wavecap.errors import WaveCapError
from wavecap.skeletons import get_skeleton

FUZZ = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
HEADER = "Frame #,# Obj,X,Y,Z,Doppler,Intensity,Abs Time"
ODD_FIELDS = st.one_of(
    st.sampled_from(["", "abc", "nan", "inf", "-inf", "1e400", "-1e39", "1e308", "9" * 40, "0x1F", '"1.5"', " ",
                     "1,2", "\t", "-0", "1e-400", "NaN", "2.5.1"]),
    st.text(max_size=6),
)


def _valid_ti_lines(n_frames: int = 6) -> list[str]:
    rng = np.random.default_rng(0)
    lines = []
    for k in range(n_frames):
        n = 3
        for _ in range(n):
            x, y, z = rng.normal(0, 0.3), rng.uniform(1, 4), rng.normal(0, 0.5)
            lines.append(f"{10 + k},{n},{x:.3f},{y:.3f},{z:.3f},0.1,12.5,{100 + k * 0.1:.3f}")
    return lines


@st.composite
def damaged_csv(draw: st.DrawFn, lines: list[str], header: str | None) -> bytes:
    """A valid CSV with a few random kinds of damage."""
    lines = list(lines)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["field", "drop_field", "add_field", "blank", "swap", "duplicate", "empty_frame",
                                     "delete"]))
        i = draw(st.integers(0, len(lines) - 1))
        fields = lines[i].split(",")
        if kind == "field":
            fields[draw(st.integers(0, len(fields) - 1))] = draw(ODD_FIELDS)
        elif kind == "drop_field":
            fields.pop(draw(st.integers(0, len(fields) - 1)))
        elif kind == "add_field":
            fields.append(draw(ODD_FIELDS))
        elif kind == "blank":
            lines.insert(i, "")
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "empty_frame":
            fields = [fields[0], "0"] + [""] * (len(fields) - 2)
        elif kind == "delete" and len(lines) > 1:
            lines.pop(i)
            continue
        if kind in ("field", "drop_field", "add_field", "empty_frame"):
            lines[i] = ",".join(fields)
    text = ((header + "\n") if header else "") + "\n".join(lines) + "\n"
    data = text.encode("utf-8", errors="surrogatepass")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return data


def _accepts_or_refuses(run, out: Path) -> None:  # noqa: ANN001
    """The import either refuses with a project error or writes a session that validates."""
    try:
        run()
    except WaveCapError:
        assert not out.exists()
        return
    assert validate_session(out, "full").ok


@FUZZ
@given(data=damaged_csv(_valid_ti_lines(), HEADER))
def test_ti_csv_fuzz(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "radar.csv"
        path.write_bytes(data)
        out = Path(tmp) / "s.h5"
        _accepts_or_refuses(lambda: import_ti_csv(path, out), out)


def _kinect_lines(n_frames: int = 6) -> tuple[str, list[str]]:
    names = get_skeleton("kinect_v2").joint_names
    rng = np.random.default_rng(1)
    header = ",".join(["Frame"] + [f"{j}_{a}" for j in names for a in "XYZ"])
    base = rng.normal(0, 0.3, (25, 3)) + [0, 2.5, 1.0]
    rows = [",".join([str(10 + k)] + [f"{v:.3f}" for v in (base + 0.01 * k).ravel()]) for k in range(n_frames)]
    return header, rows


_KINECT_HEADER, _KINECT_ROWS = _kinect_lines()


@FUZZ
@given(data=damaged_csv(_KINECT_ROWS, _KINECT_HEADER))
def test_keypoint_csv_fuzz(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        radar = Path(tmp) / "radar.csv"
        radar.write_text(HEADER + "\n" + "\n".join(_valid_ti_lines()) + "\n")
        keypoints = Path(tmp) / "kinect.csv"
        keypoints.write_bytes(data)
        out = Path(tmp) / "s.h5"
        _accepts_or_refuses(lambda: import_ti_csv(radar, out, keypoints=keypoints, skeleton="kinect_v2"), out)


FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)


@FUZZ
@given(frame=st.integers(1, 4), kind=st.sampled_from(["bytes", "values", "gt_bytes", "gt_shape", "gt_values"]),
       blob=st.binary(max_size=120), values=st.lists(FLOATS, min_size=5, max_size=20), cut=st.integers(0, 200),
       shape=st.sampled_from([(4, 17), (4, 17, 2), (3, 17, 3), (4, 16, 3), (0,), (4, 17, 3, 1)]))
def test_mmfi_fuzz(frame: int, kind: str, blob: bytes, values: list[float], cut: int, shape: tuple[int, ...]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        seq = Path(tmp) / "A01"
        (seq / "mmwave").mkdir(parents=True)
        rng = np.random.default_rng(2)
        for i in range(1, 5):
            pts = np.column_stack([rng.normal(0, 0.3, 4), rng.uniform(1, 3, 4), rng.normal(0, 0.3, (4, 3))])
            (seq / "mmwave" / f"frame{i:03d}.bin").write_bytes(pts.tobytes())
        gt = np.tile(rng.normal(0, 0.3, (17, 3)) + [0, 2, 1], (4, 1, 1))
        buffer = io.BytesIO()
        np.save(buffer, gt)
        gt_bytes = buffer.getvalue()
        target = seq / "mmwave" / f"frame{frame:03d}.bin"
        if kind == "bytes":
            target.write_bytes(blob)
        elif kind == "values":
            target.write_bytes(np.asarray(values[: len(values) // 5 * 5], dtype="<f8").tobytes())
        elif kind == "gt_bytes":
            gt_bytes = gt_bytes[:cut] + blob
        elif kind == "gt_shape":
            buffer = io.BytesIO()
            np.save(buffer, np.zeros(shape))
            gt_bytes = buffer.getvalue()
        else:
            gt.reshape(-1)[: len(values)] = values
            buffer = io.BytesIO()
            np.save(buffer, gt)
            gt_bytes = buffer.getvalue()
        (seq / "ground_truth.npy").write_bytes(gt_bytes)
        out = Path(tmp) / "s.h5"
        _accepts_or_refuses(lambda: import_mmfi(seq, out), out)


def _npy_claiming(shape: tuple[int, ...]) -> bytes:
    """A .npy header claiming ``shape`` float64, followed by only 48 bytes."""
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}".encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 48


@FUZZ
@given(kind=st.sampled_from(["radar_bytes", "radar_huge", "radar_shape", "radar_values", "mesh_bytes", "mesh_huge",
                             "mesh_shape", "image_bytes", "image_cut", "calib"]),
       blob=st.binary(max_size=200), cut=st.integers(0, 300), values=st.lists(FLOATS, min_size=6, max_size=6),
       shape=st.sampled_from([(10**12, 6), (2**40,), (5, 5), (7,), (3, 6, 1)]))
def test_mmbody_fuzz(kind: str, blob: bytes, cut: int, values: list[float], shape: tuple[int, ...]) -> None:
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        seq = Path(tmp) / "sequence_1"
        for sub in ("radar", "image/master", "mesh"):
            (seq / sub).mkdir(parents=True)
        rng = np.random.default_rng(3)
        for i in range(3):
            np.save(seq / "radar" / f"frame_{i}.npy", np.column_stack([rng.normal(0, 0.5, (8, 1)),
                                                                       rng.uniform(2, 4, (8, 1)),
                                                                       rng.uniform(0, 2, (8, 4))]))
            Image.fromarray(np.full((4, 6, 3), i, np.uint8)).save(seq / "image" / "master" / f"frame_{i}.png")
            np.savez(seq / "mesh" / f"frame_{i}.npz", joints=rng.normal(0, 0.3, (55, 3)) + [0, 3, 1])
        (seq / "calib.txt").write_text("master\n" + " ".join(["1", "0", "0", "0"] * 4))
        if kind == "radar_bytes":
            (seq / "radar" / "frame_1.npy").write_bytes((seq / "radar" / "frame_1.npy").read_bytes()[:cut] + blob)
        elif kind == "radar_huge":
            (seq / "radar" / "frame_1.npy").write_bytes(_npy_claiming(shape))
        elif kind == "radar_shape":
            np.save(seq / "radar" / "frame_1.npy", np.zeros(shape if np.prod(shape) < 1000 else (2, 2)))
        elif kind == "radar_values":
            np.save(seq / "radar" / "frame_1.npy", np.array([values]))
        elif kind == "mesh_bytes":
            (seq / "mesh" / "frame_2.npz").write_bytes((seq / "mesh" / "frame_2.npz").read_bytes()[:cut] + blob)
        elif kind == "mesh_huge":
            import zipfile

            with zipfile.ZipFile(seq / "mesh" / "frame_2.npz", "w") as z:
                z.writestr("joints.npy", _npy_claiming(shape))
        elif kind == "mesh_shape":
            np.savez(seq / "mesh" / "frame_2.npz", joints=np.zeros(shape if np.prod(shape) < 1000 else (2, 2)))
        elif kind == "image_bytes":
            (seq / "image" / "master" / "frame_0.png").write_bytes(blob)
        elif kind == "image_cut":
            path = seq / "image" / "master" / "frame_0.png"
            path.write_bytes(path.read_bytes()[:cut])
        else:
            (seq / "calib.txt").write_bytes(blob)
        out = Path(tmp) / "s.h5"
        _accepts_or_refuses(lambda: import_mmbody(seq, out), out)


@FUZZ
@given(blob=st.binary(max_size=100), cut=st.integers(0, 120), which=st.integers(0, 2), mode=st.booleans())
def test_image_folder_fuzz(blob: bytes, cut: int, which: int, mode: bool) -> None:
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "imgs"
        folder.mkdir()
        for i in range(3):
            Image.fromarray(np.full((4, 6, 3), 40 * i, np.uint8)).save(folder / f"f_{i}.png")
        target = folder / f"f_{which}.png"
        target.write_bytes(target.read_bytes()[:cut] + blob if mode else blob)
        out = Path(tmp) / "s.h5"
        _accepts_or_refuses(lambda: import_images(str(folder), out), out)


def test_fuzz_corpus_contains_refusals() -> None:
    """The damage the fuzz tests draw is real: a known-bad case is refused by the project's error."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "radar.csv"
        lines = _valid_ti_lines()
        lines[4] = lines[4].replace("0.1", "abc")
        path.write_text(HEADER + "\n" + "\n".join(lines))
        with pytest.raises(WaveCapError, match="line 6"):
            import_ti_csv(path, Path(tmp) / "s.h5")
