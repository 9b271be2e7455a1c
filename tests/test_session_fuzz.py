"""Fuzz the session reader and validator with corrupted files.

Starting from a valid small session (with a half-written label run), each
example damages a copy: truncation, byte flips, deleted datasets or
attributes, datasets replaced with wrong shapes, dtypes or NaN, shuffled
indices. Opening, validating and reading everything must then either work or
raise a ``WaveCapError``; any other exception, or a hang, fails the test.
"""

from __future__ import annotations

import faulthandler
import tempfile
from datetime import timedelta
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wavecap.datasets import LabelWriter, open_session, validate_session
from wavecap.datasets.session_example import write_example_session
from wavecap.errors import DataError, WaveCapError

# A hang inside HDF5's C code cannot be interrupted from Python: the watchdog
# dumps the stacks and ends the test process instead of stalling CI.
WATCHDOG_S = 60
FUZZ = settings(
    max_examples=100,
    deadline=timedelta(seconds=5),
    derandomize=True,  # the same examples on every run: CI failures reproduce
    database=None,  # the repository is shared; keep no example database in it
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _build(folder: Path, encoding: str | None) -> tuple[bytes, list[str], list[tuple[str, str]]]:
    path = folder / f"base-{encoding}.h5"
    write_example_session(path, n_radar=12, n_camera=3, n_ground_truth=6, encoding=encoding)
    with LabelWriter(path, "teacher", fields={"joints": ((4, 3), "float32"), "ok": ((), "bool")},
                     chunk_size=5) as lw:
        lw.write(0, 5, {"joints": np.ones((5, 4, 3)), "ok": np.ones(5, bool)})
    datasets: list[str] = []
    attrs: list[tuple[str, str]] = []
    with h5py.File(path, "r") as f:
        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                datasets.append(name)
            attrs.extend((name, key) for key in obj.attrs)
        f.visititems(visit)
        attrs.extend(("/", key) for key in f.attrs)
    return path.read_bytes(), datasets, attrs


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, list[str], list[tuple[str, str]]]]:
    folder = tmp_path_factory.mktemp("fuzz")
    return {"raw": _build(folder, None), "png": _build(folder, "png")}


def _wrong_value(draw: st.DrawFn, data: np.ndarray) -> np.ndarray:
    """A replacement for a dataset's content: wrong shape, dtype, NaN or order."""
    mode = draw(st.sampled_from(["nan", "dtype", "shape", "shuffle", "empty", "scalar"]))
    if data.dtype.kind == "O":  # variable-length bytes: h5py cannot store reshaped object arrays
        return np.asarray(3)
    if mode == "nan" and data.dtype.kind == "f" and data.size:
        out = data.copy()
        out.flat[draw(st.integers(0, data.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e30]))
        return out
    if mode == "dtype" and data.dtype.kind != "O":
        return data.astype(draw(st.sampled_from(["int8", "float64", "float16", "bool", "S4", "int64"])))
    if mode == "shape" and data.ndim:
        return draw(st.sampled_from([data.reshape(-1), data[..., :1], data[:-1], data[None], data[1:]]))
    if mode == "shuffle" and data.ndim:
        return data[np.random.default_rng(draw(st.integers(0, 99))).permutation(len(data))]
    if mode == "empty":
        return np.zeros((0,) + data.shape[1:], data.dtype)
    return np.asarray(3)


def _edit_structure(f: h5py.File, draw: st.DrawFn, datasets: list[str], attrs: list[tuple[str, str]]) -> None:
    """One structural edit; a name removed by an earlier edit is skipped."""
    kind = draw(st.sampled_from(["delete_dataset", "delete_group", "delete_attr", "bad_attr", "replace"]))
    name = draw(st.sampled_from(datasets))
    owner, key = draw(st.sampled_from(attrs))
    if kind == "delete_dataset" and name in f:
        del f[name]
    elif kind == "delete_group" and owner != "/" and owner in f:
        del f[owner]
    elif kind == "delete_attr" and owner in f and key in f[owner].attrs:
        del f[owner].attrs[key]
    elif kind == "bad_attr" and owner in f:
        f[owner].attrs[key] = draw(st.sampled_from([7, -1, 2.5, "x", np.array([1, 2]), np.array([b"a"] * 9)]))
    elif kind == "replace" and name in f:
        old, old_attrs = np.asarray(f[name][()]), dict(f[name].attrs)
        del f[name]
        f[name] = _wrong_value(draw, old)
        f[name].attrs.update(old_attrs)


def _damage_bytes(path: Path, draw: st.DrawFn) -> None:
    raw = bytearray(path.read_bytes())
    if draw(st.booleans()):
        del raw[draw(st.integers(0, len(raw) - 1)):]
    else:
        for _ in range(draw(st.integers(1, 16))):
            i = draw(st.integers(0, len(raw) - 1))
            raw[i] ^= draw(st.integers(1, 255))
    path.write_bytes(bytes(raw))


def _read_everything(path: Path, validate: bool | str) -> None:
    """Touch every accessor a consumer of the session could call."""
    with open_session(path, validate=validate) as s:
        _ = (s.attrs, s.subject, s.schema_version, len(s))
        radar = s.radar
        _ = (radar.columns, radar.config, radar.T_world_from_radar, radar.timestamps)
        for frame in radar.frames():
            radar.frame_dict(frame.index)
        if (truth := s.radar_truth) is not None:
            _ = ([truth.field(n) for n in truth.names], [truth.frame(i) for i in range(len(radar))])
        if radar.has_heatmaps and len(radar):
            axes = radar.heatmap_axes
            _ = (radar.heatmap(len(radar) - 1), [radar.heatmap_bins(a) for a in axes])
        if (cam := s.camera) is not None:
            _ = (cam.width, cam.height, cam.fps, cam.intrinsics, cam.T_world_from_camera, cam.encoding,
                 cam.boxes(), cam.boxes_source)
            list(cam.frames())
        if (gt := s.ground_truth) is not None:
            names = gt.names
            _ = ([gt.field(n) for n in names], gt.smpl(), list(gt.frames()))
            if "joints" in names:
                _ = (gt.joint_names, gt.skeleton)
            if "contacts" in names:
                _ = gt.contact_names
        for stream in s.keypoints.values():
            _ = (stream.skeleton, stream.joint_names, stream.coordinate_frame, stream.positions(),
                 stream.confidence(), list(stream.window(-1.0, 100.0)))
        for name in s.label_runs:
            run = s.labels(name)
            _ = (run.fields, run.remaining(), run.complete, run.metadata)
            for field in run.field_names:
                run.read(field, 0, run.chunk_size)


@FUZZ
@given(data=st.data())
def test_corrupted_sessions_fail_only_with_wavecap_errors(
    bases: dict[str, tuple[bytes, list[str], list[tuple[str, str]]]], data: st.DataObject
) -> None:
    content, datasets, attrs = bases[data.draw(st.sampled_from(sorted(bases)))]
    validate = data.draw(st.sampled_from([True, "full", False]))
    faulthandler.dump_traceback_later(WATCHDOG_S, exit=True)
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "fuzz.h5"
            path.write_bytes(content)
            if data.draw(st.booleans()):
                with h5py.File(path, "a") as f:
                    for _ in range(data.draw(st.integers(1, 3))):
                        _edit_structure(f, data.draw, datasets, attrs)
            if data.draw(st.booleans()):
                _damage_bytes(path, data.draw)
            try:
                _read_everything(path, validate)
            except WaveCapError:
                pass
            report = validate_session(path, level="full")
            assert all(isinstance(e, DataError) and e.file == str(path) for e in report.errors)
    finally:
        faulthandler.cancel_dump_traceback_later()
