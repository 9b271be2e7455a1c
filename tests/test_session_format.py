"""Recorded-session format: round trips, windowing, validation, atomic and resumable writes."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from wavecap.datasets import LabelWriter, SessionWriter, open_session, validate_session
from wavecap.datasets import session_streams
from wavecap.datasets.session_example import RADAR_COLUMNS, write_example_session
from wavecap.datasets.session_schema import GROUPS, ROOT_ATTRS, SCHEMA_VERSION
from wavecap.errors import DataError, WaveCapError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "session_format.md"
LABEL_FIELDS = {"joints": ((24, 3), "float32"), "ok": ((), "bool")}


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("session") / "example.h5"
    write_example_session(path)
    return path


@pytest.fixture()
def session(example: Path, tmp_path: Path) -> Path:
    """A private copy of the example session, free to corrupt."""
    return Path(shutil.copy(example, tmp_path / "s.h5"))


def raw_digest(path: Path) -> str:
    """Hash of every dataset and attribute outside /labels."""
    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        def visit(name: str, obj: object) -> None:
            if name.startswith("labels"):
                return
            h.update(name.encode())
            for key in sorted(obj.attrs):
                h.update(key.encode() + repr(obj.attrs[key]).encode())
            if isinstance(obj, h5py.Dataset):
                data = obj[()]
                h.update(str(obj.dtype).encode() + str(obj.shape).encode())
                h.update(b"".join(bytes(x) for x in data) if obj.dtype.kind == "O" else data.tobytes())
        f.visititems(visit)
        h.update(repr(sorted(f.attrs.items())).encode())
    return h.hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def label_values(start: int, stop: int) -> dict[str, np.ndarray]:
    """Deterministic label values of frames [start, stop), as a teacher would give."""
    frames = np.arange(start, stop, dtype=np.float32)
    return {"joints": np.broadcast_to(frames[:, None, None], (stop - start, 24, 3)).copy(),
            "ok": frames % 3 != 0}


def run_python(code: str) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, timeout=120).returncode


# -- round trips ---------------------------------------------------------------


def test_round_trip_every_group(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    counts = [3, 0, 5, 1]
    points = [rng.normal(size=(n, 5)).astype(np.float32) for n in counts]
    t_radar = np.array([0.0, 0.1, 0.2, 0.35])
    extr = np.eye(4)
    extr[:3, 3] = [0.5, -1.0, 1.2]
    frames = rng.integers(0, 256, (3, 6, 7, 3), dtype=np.uint8)
    k = np.array([[5.0, 0, 3], [0, 5.0, 2], [0, 0, 1]])
    gt = {"global_orient": rng.normal(size=(4, 3)), "body_pose": rng.normal(size=(4, 69)),
          "betas": rng.normal(size=(4, 10)), "transl": rng.normal(size=(4, 3))}
    joints, contacts = rng.normal(size=(4, 2, 3)), rng.random((4, 4)) < 0.5
    kp, conf = rng.normal(size=(2, 3, 3)), rng.random((2, 3))
    kp[1, 2] = np.nan  # untracked joint
    path = tmp_path / "rt.h5"
    with SessionWriter(path, created_by="test 1.0", description="round trip", body_model="smpl",
                       subject="P7", subject_info={"mass_kg": 70.5}) as w:
        w.write_radar(points, t_radar, columns=RADAR_COLUMNS, T_world_from_radar=extr,
                      config={"model": "IWR6843", "frame_rate_hz": 10.0, "doppler_sign": "positive_towards"})
        w.write_camera(frames, [0.0, 0.5, 1.0], intrinsics=k, T_world_from_camera=np.eye(4), fps=2.0)
        w.write_ground_truth(t_radar, **gt, joints=joints, joint_names=["a", "b"], skeleton="two",
                             contacts=contacts)
        w.write_keypoints("mocap", [0.0, 1.0], kp, confidence=conf, joint_names=["p", "q", "r"],
                          skeleton="three", frame="world")
    assert validate_session(path).ok
    with open_session(path, validate="full") as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.attrs["created_by"] == "test 1.0" and s.attrs["body_model"] == "smpl"
        assert s.subject == {"id": "P7", "mass_kg": 70.5}
        assert len(s) == 4 and s.radar.columns == RADAR_COLUMNS
        assert s.radar.config == {"model": "IWR6843", "frame_rate_hz": 10.0, "doppler_sign": "positive_towards"}
        np.testing.assert_array_equal(s.radar.timestamps, t_radar)
        np.testing.assert_array_equal(s.radar.offsets, [0, 3, 3, 8, 9])
        np.testing.assert_array_equal(s.radar.T_world_from_radar, extr)
        for i, p in enumerate(points):
            np.testing.assert_array_equal(s.radar.frame(i), p)
        np.testing.assert_array_equal(s.radar.frame_dict(2)["snr"], points[2][:, 4])
        assert not s.radar.has_heatmaps
        cam = s.camera
        assert (cam.width, cam.height, cam.fps, cam.encoding) == (7, 6, 2.0, None)
        assert cam.boxes() is None and cam.boxes_source is None
        np.testing.assert_array_equal(cam.intrinsics, k)
        for i in range(3):
            np.testing.assert_array_equal(cam.frame(i), frames[i])
        g = s.ground_truth
        for name, values in gt.items():
            np.testing.assert_allclose(g.field(f"smpl/{name}"), values.astype(np.float32))
        np.testing.assert_allclose(g.smpl(1, 3)["body_pose"], gt["body_pose"][1:3].astype(np.float32))
        np.testing.assert_allclose(g.field("joints"), joints.astype(np.float32))
        np.testing.assert_array_equal(g.field("contacts"), contacts)
        assert g.joint_names == ("a", "b") and g.skeleton == "two"
        assert g.contact_names == ("left_heel", "left_toe", "right_heel", "right_toe")
        assert set(g.frame(2)) == {"smpl/global_orient", "smpl/body_pose", "smpl/betas", "smpl/transl",
                                   "joints", "contacts"}
        stream = s.keypoints["mocap"]
        assert (stream.skeleton, stream.joint_names, stream.coordinate_frame) == ("three", ("p", "q", "r"), "world")
        np.testing.assert_array_equal(stream.positions(), kp.astype(np.float32))
        np.testing.assert_allclose(stream.frame(1)["confidence"], conf[1].astype(np.float32))
        assert s.label_runs == () and s.radar_truth is None


def test_radar_truth_rows_follow_radar_frames(example: Path, tmp_path: Path) -> None:
    with open_session(example, validate="full") as s:
        truth = s.radar_truth
        assert truth.names == ("kind", "true_position")
        kind, offsets = truth.field("kind"), s.radar.offsets
        assert kind.dtype == np.int8 and len(kind) == s.radar.n_points
        for i in (0, 7, len(s.radar) - 1):
            frame = truth.frame(i)
            np.testing.assert_array_equal(frame["kind"], kind[offsets[i] : offsets[i + 1]])
            assert frame["true_position"].shape == (len(s.radar.frame(i)), 3)
    with SessionWriter(tmp_path / "t.h5", created_by="t") as w:
        w.write_radar([np.zeros((2, 3))], [0.0], columns=("x", "y", "z"), T_world_from_radar=np.eye(4))
        with pytest.raises(DataError, match=r"one per radar point.*group=/radar_truth, field=kind"):
            w.write_radar_truth(kind=np.zeros(3))
        w.write_radar_truth(kind=np.zeros(2))
    path = Path(shutil.copy(example, tmp_path / "bad.h5"))
    corrupt(path, lambda f: replace(f, "radar_truth/kind", f["radar_truth/kind"][:-1]))
    with pytest.raises(DataError, match=r"one row per radar point.*group=/radar_truth, field=kind"):
        open_session(path)


def test_radar_inputs_bulk_flat_and_streaming_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    points = [rng.normal(size=(n, 3)).astype(np.float32) for n in (2, 0, 4)]
    t = [1.0, 1.1, 1.2]
    kw = {"columns": ("x", "y", "z"), "T_world_from_radar": np.eye(4)}
    with SessionWriter(tmp_path / "a.h5", created_by="t") as w:
        w.write_radar(points, t, **kw)
    with SessionWriter(tmp_path / "b.h5", created_by="t") as w:
        w.write_radar(np.concatenate(points), t, offsets=[0, 2, 2, 6], **kw)
    with SessionWriter(tmp_path / "c.h5", created_by="t") as w:
        w.begin_radar(**kw)
        for p, ti in zip(points, t):
            w.append_radar_frame(p, ti)
    digests = {raw_digest(tmp_path / f"{n}.h5") for n in "abc"}
    assert len(digests) == 1


def test_streaming_camera_and_encoded_frames(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (3, 5, 4, 3), dtype=np.uint8)
    path = tmp_path / "cam.h5"
    with SessionWriter(path, created_by="t") as w:
        w.write_radar([np.zeros((0, 3))], [0.0], columns=("x", "y", "z"), T_world_from_radar=np.eye(4))
        w.begin_camera(width=4, height=5, intrinsics=np.diag([3.0, 3.0, 1.0]), T_world_from_camera=np.eye(4),
                       fps=30.0, encoding="png")
        for i, image in enumerate(images):
            w.append_camera_frame(image, i / 30)
    with open_session(path, validate="full") as s:
        assert s.camera.encoding == "png" and len(s.camera) == 3
        for i in range(3):
            np.testing.assert_array_equal(s.camera.frame(i), images[i])  # PNG is lossless


def test_person_boxes_round_trip_bulk_and_streaming(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frames = rng.integers(0, 256, (4, 6, 7, 3), dtype=np.uint8)
    boxes = np.array([[0.5, 1.0, 6.5, 5.5], [np.nan] * 4, [-2.0, 0.25, 3.0, 9.0], [1.0, 1.0, 1.5, 1.25]])
    t = [0.0, 0.1, 0.2, 0.3]
    cam = {"intrinsics": np.diag([5.0, 5.0, 1.0]), "T_world_from_camera": np.eye(4), "fps": 10.0}
    radar = {"columns": ("x", "y", "z"), "T_world_from_radar": np.eye(4)}
    with SessionWriter(tmp_path / "bulk.h5", created_by="t") as w:
        w.write_radar([np.zeros((0, 3))], [0.0], **radar)
        w.write_camera(frames, t, boxes=boxes, boxes_source="detector", **cam)
    with SessionWriter(tmp_path / "stream.h5", created_by="t") as w:
        w.write_radar([np.zeros((0, 3))], [0.0], **radar)
        w.begin_camera(width=7, height=6, boxes_source="detector", **cam)
        for image, ti, box in zip(frames, t, boxes):
            w.append_camera_frame(image, ti, box)
    assert raw_digest(tmp_path / "bulk.h5") == raw_digest(tmp_path / "stream.h5")
    with open_session(tmp_path / "bulk.h5", validate="full") as s:
        assert s.camera.boxes_source == "detector"
        stored = s.camera.boxes()
        assert stored.dtype == np.float32 and stored.shape == (4, 4)
        np.testing.assert_array_equal(stored, boxes.astype(np.float32))  # NaN row kept as NaN
        np.testing.assert_array_equal(s.camera.boxes(2, 4), boxes[2:4].astype(np.float32))
        np.testing.assert_array_equal(s.camera.boxes(-1), boxes[3:].astype(np.float32))


def test_writer_refuses_bad_boxes(tmp_path: Path) -> None:
    cam = {"width": 7, "height": 6, "intrinsics": np.diag([5.0, 5.0, 1.0]), "T_world_from_camera": np.eye(4),
           "fps": 10.0}
    image = np.zeros((6, 7, 3), np.uint8)
    with SessionWriter(tmp_path / "w.h5", created_by="t") as w:
        w.write_radar([np.zeros((0, 3))], [0.0], columns=("x", "y", "z"), T_world_from_radar=np.eye(4))
        w.begin_camera(boxes_source="annotation", **cam)
        w.append_camera_frame(image, 0.0, [1.0, 1.0, 4.0, 5.0])
        with pytest.raises(DataError, match=r"person box.*x1 < x2.*group=/camera, field=boxes, frame=1\]"):
            w.append_camera_frame(image, 0.1, [4.0, 1.0, 1.0, 5.0])
        with pytest.raises(DataError, match=r"person box.*field=boxes, frame=1\]"):
            w.append_camera_frame(image, 0.1, [1.0, np.nan, 4.0, 5.0])  # NaN only as a whole row
        with pytest.raises(DataError, match=r"boxes must be given.*field=boxes, frame=1\]"):
            w.append_camera_frame(image, 0.1)
        w.append_camera_frame(image, 0.1, np.full(4, np.nan))  # the refused tries left nothing
    with open_session(tmp_path / "w.h5") as s:
        assert len(s.camera) == 2 and np.isnan(s.camera.boxes()[1]).all()
    with SessionWriter(tmp_path / "x.h5", created_by="t") as w:
        w.write_radar([np.zeros((0, 3))], [0.0], columns=("x", "y", "z"), T_world_from_radar=np.eye(4))
        with pytest.raises(DataError, match="boxes and boxes_source go together"):
            w.write_camera(image[None], [0.0], boxes=np.ones((1, 4)), **{k: v for k, v in cam.items()
                                                                        if k not in ("width", "height")})
        w.begin_camera(**cam)
        with pytest.raises(DataError, match=r"boxes must be given exactly.*frame=0\]"):
            w.append_camera_frame(image, 0.0, [1.0, 1.0, 4.0, 5.0])


def test_version_1_1_sessions_still_read(session: Path) -> None:
    """A file written before person boxes existed: no boxes, version 1.1."""
    corrupt(session, lambda f: (f.__delitem__("camera/boxes"), f.attrs.__setitem__("wavecap_schema", fixed("1.1"))))
    assert validate_session(session, level="full").ok
    with open_session(session) as s:
        assert s.schema_version == "1.1" and s.camera.boxes() is None and s.camera.boxes_source is None
        assert s.camera.frame(0).shape == (8, 10, 3)


def test_example_session_with_jpeg_and_heatmaps(tmp_path: Path) -> None:
    path = tmp_path / "jpeg.h5"
    write_example_session(path, encoding="jpeg")
    with open_session(path, validate="full") as s:
        assert s.camera.frame(0).shape == (8, 10, 3)
        assert s.radar.heatmap_axes == ("range", "azimuth") and s.radar.heatmap(3).shape == (4, 6)
        np.testing.assert_allclose(s.radar.heatmap_bins("azimuth"), np.linspace(-1, 1, 6))
        assert s.radar.heatmap_bins("elevation") is None


# -- windowing -----------------------------------------------------------------


def test_windowing_by_time_and_frame(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_session(example) as s:
        radar = s.radar
        t = radar.timestamps
        assert radar.index_range(0.25, 0.75) == (3, 8)  # 10 Hz: t = 0.3 ... 0.7
        window = list(radar.window(0.25, 0.75))
        assert [f.index for f in window] == list(range(3, 8))
        assert all(0.25 <= f.time < 0.75 for f in window)
        assert list(radar.window(5.0, 6.0)) == [] and list(radar.window(0.5, 0.1)) == []
        per_frame = [radar.frame(i) for i in range(len(radar))]
        monkeypatch.setattr(session_streams, "RADAR_BLOCK_POINTS", 3)  # many small blocks
        blocks = list(radar.frames())
        assert [f.index for f in blocks] == list(range(len(radar)))
        for f in blocks:
            np.testing.assert_array_equal(f.data, per_frame[f.index])
            assert f.time == t[f.index]
        assert [f.index for f in radar.frames(17)] == [17, 18, 19]
        assert [f.index for f in radar.frames(-2)] == [18, 19]
        np.testing.assert_array_equal(radar.frame(-1), per_frame[-1])
        with pytest.raises(IndexError):
            radar.frame(20)
        cam = s.camera  # timestamps 0.01 + i / 3
        assert [f.index for f in cam.window(0.3, 1.0)] == [1, 2]
        assert cam.window(0.3, 1.0).__next__().data.shape == (8, 10, 3)
        gt = s.ground_truth  # 5 Hz
        start, stop = gt.index_range(0.4, 1.0)
        assert (start, stop) == (2, 5)
        assert gt.field("joints", start, stop).shape == (3, 24, 3)
        assert [f.index for f in s.keypoints["kinect"].window(0.0, 0.3)] == [0, 1]


def test_reader_never_writes(example: Path) -> None:
    before = file_digest(example)
    with open_session(example, validate="full") as s:
        for _ in s.radar.frames():
            pass
        s.camera.frame(0)
        s.ground_truth.smpl()
    assert file_digest(example) == before


# -- validation ----------------------------------------------------------------


def corrupt(path: Path, edit: object) -> None:
    with h5py.File(path, "a") as f:
        edit(f)


def replace(f: h5py.File, name: str, data: np.ndarray, attrs: dict | None = None) -> None:
    old = dict(f[name].attrs)
    del f[name]
    f[name] = data
    f[name].attrs.update(attrs if attrs is not None else old)


def fixed(text: str | list[str]) -> np.ndarray:
    """Fixed-length string attribute value(s), as the schema stores them."""
    return np.array(text.encode() if isinstance(text, str) else [t.encode() for t in text])


def set_value(name: str, index: object, value: object):  # noqa: ANN201
    def edit(f: h5py.File) -> None:
        data = f[name][()]
        data[index] = value
        replace(f, name, data)
    return edit


CHEAP_CASES = {
    "missing group": (lambda f: f.__delitem__("radar"), r"missing required group \[.*group=/radar\]"),
    "missing field": (lambda f: f.__delitem__("radar/offsets"), r"missing required dataset.*field=offsets"),
    "wrong shape": (lambda f: replace(f, "radar/T_world_from_radar", np.eye(3)),
                    r"shape \(3, 3\) does not match.*group=/radar, field=T_world_from_radar"),
    "wrong dtype": (lambda f: replace(f, "radar/points", f["radar/points"][()].astype(np.float64)),
                    r"dtype is float64, expected float32.*field=points"),
    "timestamps not increasing": (set_value("radar/timestamps", 4, 0.3),
                                  r"not strictly increasing.*group=/radar, field=timestamps, frame=4"),
    "timestamps repeated": (set_value("camera/timestamps", 2, 1 / 3 + 0.01),
                            r"not strictly increasing.*group=/camera, field=timestamps, frame=2"),
    "timestamp NaN": (set_value("ground_truth/timestamps", 3, np.nan),
                      r"not finite.*group=/ground_truth, field=timestamps, frame=3"),
    "transform Inf": (set_value("radar/T_world_from_radar", (0, 3), np.inf),
                      r"NaN/Inf.*field=T_world_from_radar"),
    "transform scaled": (set_value("camera/T_world_from_camera", (0, 0), 2.0),
                         r"not a rigid transform.*group=/camera, field=T_world_from_camera"),
    "transform reflected": (set_value("radar/T_world_from_radar", 2, [0, 0, -1, 1]),
                            r"reflection.*field=T_world_from_radar"),
    "transform last row": (set_value("radar/T_world_from_radar", (3, 0), 0.1), r"last row.*T_world_from_radar"),
    "offsets decreasing": (set_value("radar/offsets", 6, 0), r"offsets decrease.*field=offsets, frame=5"),
    "offsets first": (set_value("radar/offsets", 0, 1), r"offsets\[0\] is 1.*field=offsets, frame=0"),
    "offsets last": (set_value("radar/offsets", -1, 10_000), r"offsets\[-1\] is 10000.*field=offsets, frame=19"),
    "offsets length": (lambda f: replace(f, "radar/offsets", f["radar/offsets"][:-1]),
                       r"shape \(20,\) does not match \[\('T\+1',\)\].*field=offsets"),
    "unknown version": (lambda f: f.attrs.__setitem__("wavecap_schema", fixed("9.9")),
                        r"attribute 'wavecap_schema' is '9.9'.*group=/, field=wavecap_schema"),
    "no version": (lambda f: f.attrs.__delitem__("wavecap_schema"), r"missing required attribute 'wavecap_schema'"),
    "columns width": (lambda f: f["radar/points"].attrs.__setitem__("columns", fixed(["x", "y", "z", "doppler"])),
                      r"columns attribute names 4 columns but points has 5.*field=points"),
    "columns order": (lambda f: f["radar/points"].attrs.__setitem__("columns", fixed(["y", "x", "z", "d", "snr"])),
                      r"must be unique and start with.*field=points"),
    "doppler sign": (lambda f: f["radar"].attrs.__delitem__("doppler_sign"), r"doppler_sign"),
    "camera size": (lambda f: f["camera"].attrs.__setitem__("width", 11), r"frames are 8x10 but attributes say 8x11"),
    "intrinsics": (set_value("camera/intrinsics", (0, 0), -1.0), r"focal lengths.*field=intrinsics"),
    "both camera storages": (lambda f: f["camera"].create_dataset("encoded", data=np.zeros(9, np.uint8))
                             .attrs.__setitem__("encoding", fixed("png")), r"exactly one of \('frames', 'encoded'\)"),
    "joint names": (lambda f: f["ground_truth/joints"].attrs.__setitem__("joint_names", fixed(["a"])),
                    r"joint_names must be 24 unique names.*field=joints"),
    "keypoint frame": (lambda f: f["keypoints/kinect"].attrs.__setitem__("frame", fixed("sky")),
                       r"attribute 'frame' is 'sky'.*group=/keypoints/kinect"),
    "variable-length string": (lambda f: f.attrs.__setitem__("description", "h5py's default str"),
                               r"variable-length type.*group=/, field=description"),
    "not a group": (lambda f: f.create_dataset("keypoints/bogus", data=[1]), r"is not a group.*/keypoints/bogus"),
    "box inverted": (set_value("camera/boxes", (2, 2), 0.0),
                     r"person box \[.*needs finite x1 < x2.*group=/camera, field=boxes, frame=2\]"),
    "box partly NaN": (set_value("camera/boxes", (3, 1), np.nan), r"person box.*field=boxes, frame=3\]"),
    "box Inf": (set_value("camera/boxes", (4, 0), -np.inf), r"person box.*field=boxes, frame=4\]"),
    "boxes length": (lambda f: replace(f, "camera/boxes", f["camera/boxes"][:-1]),
                     r"shape \(5, 4\) does not match \[\('T', 4\)\] \(T=6,.*group=/camera, field=boxes"),
    "boxes source": (lambda f: f["camera/boxes"].attrs.__delitem__("source"),
                     r"missing required attribute 'source'.*group=/camera, field=boxes"),
}


@pytest.mark.parametrize("case", sorted(CHEAP_CASES))
def test_validation_names_the_problem(session: Path, case: str) -> None:
    edit, pattern = CHEAP_CASES[case]
    corrupt(session, edit)
    report = validate_session(session, level="cheap")
    assert not report.ok
    with pytest.raises(DataError, match=pattern) as caught:
        report.raise_first()
    assert caught.value.file == str(session)
    with pytest.raises(DataError, match=pattern):
        open_session(session)  # the default (cheap) validation on open


FULL_CASES = {
    "point NaN": (set_value("radar/points", (13, 1), np.nan), r"NaN/Inf value.*group=/radar, field=points, frame="),
    "heatmap Inf": (set_value("radar/heatmaps", (7, 1, 2), np.inf), r"field=heatmaps, frame=7"),
    "gt NaN": (set_value("ground_truth/smpl/body_pose", (5, 0), np.nan), r"field=smpl/body_pose, frame=5"),
    "keypoint Inf": (set_value("keypoints/kinect/positions", (2, 0, 0), -np.inf), r"Inf value.*frame=2"),
    "confidence range": (set_value("keypoints/kinect/confidence", (9, 1), 1.5), r"confidence outside.*frame=9"),
}


@pytest.mark.parametrize("case", sorted(FULL_CASES))
def test_full_validation_scans_data(session: Path, case: str) -> None:
    edit, pattern = FULL_CASES[case]
    corrupt(session, edit)
    assert validate_session(session, level="cheap").ok  # data values are not read cheaply
    with pytest.raises(DataError, match=pattern):
        validate_session(session, level="full").raise_first()


def test_point_nan_reports_its_frame(session: Path) -> None:
    with open_session(session) as s:
        offsets = s.radar.offsets
    frame = int(np.searchsorted(offsets, 13, side="right")) - 1
    corrupt(session, set_value("radar/points", (13, 1), np.nan))
    with pytest.raises(DataError, match=rf"frame={frame}\]"):
        validate_session(session).raise_first()
    with open_session(session) as s, pytest.raises(DataError, match=rf"field=points, frame={frame}\]"):
        s.radar.frame(frame)  # lazily read frames are checked too


def test_bad_box_read_unvalidated_reports_its_frame(session: Path) -> None:
    corrupt(session, set_value("camera/boxes", (2, 3), 0.0))
    with open_session(session, validate=False) as s:
        assert np.isfinite(s.camera.boxes(0, 1)).all()  # frames before the bad one still read
        with pytest.raises(DataError, match=r"person box.*group=/camera, field=boxes, frame=2\]"):
            s.camera.boxes(1, 4)


def test_report_lists_every_problem(session: Path) -> None:
    corrupt(session, lambda f: (set_value("radar/timestamps", 4, 0.3)(f), set_value("camera/intrinsics", (0, 0), 0)(f)))
    report = validate_session(session, level="cheap")
    assert [(e.group, e.field) for e in report.errors] == [("/radar", "timestamps"), ("/camera", "intrinsics")]


def test_not_a_session(tmp_path: Path) -> None:
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match=r"unreadable HDF5 data.*junk.h5"):
        open_session(tmp_path / "junk.h5")
    with pytest.raises(DataError, match="unreadable"):
        open_session(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = 1
    assert "wavecap_schema" in str(validate_session(tmp_path / "plain.h5").errors[0])


# -- writer --------------------------------------------------------------------


def test_writer_refuses_bad_input(tmp_path: Path, example: Path) -> None:
    with pytest.raises(DataError, match="already exists"):
        SessionWriter(example, created_by="t")
    kw = {"columns": ("x", "y", "z"), "T_world_from_radar": np.eye(4)}
    with SessionWriter(tmp_path / "w.h5", created_by="t") as w:
        w.begin_radar(**kw)
        w.append_radar_frame(np.zeros((2, 3)), 0.0)
        with pytest.raises(DataError, match=r"not after.*field=timestamps, frame=1"):
            w.append_radar_frame(np.zeros((1, 3)), 0.0)
        with pytest.raises(DataError, match=r"NaN/Inf point.*field=points, frame=1"):
            w.append_radar_frame(np.array([[0, 0, 0], [np.nan, 0, 0]]), 0.1)
        with pytest.raises(DataError, match="written once"):
            w.begin_radar(**kw)
        with pytest.raises(DataError, match=r"not a rigid transform.*T_world_from_camera"):
            w.begin_camera(width=4, height=3, intrinsics=np.eye(3), T_world_from_camera=np.diag([1, 1, 2, 1.0]),
                           fps=1.0)
        with pytest.raises(DataError, match="needs body_model"):
            w.write_ground_truth([0.0], body_pose=np.zeros((1, 69)))
    assert validate_session(tmp_path / "w.h5").ok
    w = SessionWriter(tmp_path / "d.h5", created_by="t")
    with pytest.raises(DataError, match="doppler_sign"):
        w.write_radar([], [], columns=("x", "y", "z", "doppler"), T_world_from_radar=np.eye(4))
    with pytest.raises(DataError, match=r"points shape \(2, 4\) is not \(n, 3\).*frame=1"):
        w.write_radar([np.zeros((1, 3)), np.zeros((2, 4))], [0, 1], columns=("x", "y", "z"),
                      T_world_from_radar=np.eye(4))
    w.write_radar([], [], columns=("x", "y", "z"), T_world_from_radar=np.eye(4))  # the failed tries left nothing
    w.abort()
    assert list(tmp_path.glob("*d.h5*")) == []
    with pytest.raises(DataError, match="no radar"):  # /radar is required
        with SessionWriter(tmp_path / "empty.h5", created_by="t"):
            pass
    assert not (tmp_path / "empty.h5").exists()


def test_crash_inside_with_keeps_previous_file(session: Path) -> None:
    before = file_digest(session)
    with pytest.raises(RuntimeError, match="boom"):
        with SessionWriter(session, created_by="t", overwrite=True) as w:
            w.write_radar([np.zeros((1, 3))], [0.0], columns=("x", "y", "z"), T_world_from_radar=np.eye(4))
            raise RuntimeError("boom")
    assert file_digest(session) == before
    assert validate_session(session).ok
    assert sorted(p.name for p in session.parent.iterdir()) == ["s.h5"]  # temp file removed


def test_overwrite_replaces_on_success(session: Path) -> None:
    with SessionWriter(session, created_by="second", overwrite=True) as w:
        w.write_radar([np.zeros((1, 3))], [0.0], columns=("x", "y", "z"), T_world_from_radar=np.eye(4))
    with open_session(session) as s:
        assert s.attrs["created_by"] == "second" and len(s) == 1 and s.camera is None


def test_killed_writer_keeps_previous_file(session: Path) -> None:
    before = file_digest(session)
    rc = run_python(f"""
        import os, signal
        import numpy as np
        from wavecap.datasets import SessionWriter
        w = SessionWriter({str(session)!r}, created_by="doomed", overwrite=True)
        w.begin_radar(columns=("x", "y", "z"), T_world_from_radar=np.eye(4))
        for i in range(50):
            w.append_radar_frame(np.ones((100, 3)), i * 0.1)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert rc == -signal.SIGKILL
    assert file_digest(session) == before
    assert validate_session(session).ok
    leftovers = [p for p in session.parent.iterdir() if p.name != "s.h5"]
    assert len(leftovers) == 1 and re.fullmatch(r"\.s\.h5\.tmp-\d+-[0-9a-f]+", leftovers[0].name)
    with pytest.raises(WaveCapError):
        open_session(leftovers[0])  # never mistaken for a session


# -- labels --------------------------------------------------------------------


def finish_labels(path: Path) -> None:
    with LabelWriter(path, "teacher", fields=LABEL_FIELDS, chunk_size=6, metadata={"teacher": "hybrik"}) as lw:
        for start, stop in lw.remaining():
            lw.write(start, stop, label_values(start, stop))


def test_label_resume_after_kill_matches_uninterrupted_run(session: Path, tmp_path: Path) -> None:
    reference = Path(shutil.copy(session, tmp_path / "reference.h5"))
    finish_labels(reference)
    raw_before = raw_digest(session)
    # fsync calls: 2 while creating the run, then 2 per write (data, then done flags).
    # The 7th is the data fsync of the 3rd write: killed before its chunk is marked done.
    rc = run_python(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import wavecap.datasets.label_writer as lw_module
        from test_session_format import LABEL_FIELDS, label_values
        calls, real_fsync = [0], lw_module.fsync
        def fsync(f):
            calls[0] += 1
            if calls[0] == 7:
                os.kill(os.getpid(), signal.SIGKILL)
            real_fsync(f)
        lw_module.fsync = fsync
        lw = lw_module.LabelWriter({str(session)!r}, "teacher", fields=LABEL_FIELDS, chunk_size=6,
                                   metadata={{"teacher": "hybrik"}})
        for start, stop in lw.remaining():
            lw.write(start, stop, label_values(start, stop))
    """)
    assert rc == -signal.SIGKILL
    assert raw_digest(session) == raw_before
    assert validate_session(session, level="full").ok
    with open_session(session) as s:
        run = s.labels("teacher")
        assert run.status == "incomplete" and run.done.tolist() == [True, True, False, False]
        assert run.remaining() == [(12, 18), (18, 20)]
        np.testing.assert_array_equal(run.read("joints", 0, 12), label_values(0, 12)["joints"])
        with pytest.raises(DataError, match=r"not done yet.*field=ok, frame=12"):
            run.read("ok")
    finish_labels(session)
    assert raw_digest(session) == raw_before
    with open_session(session, validate="full") as s, open_session(reference) as ref:
        run, ref_run = s.labels("teacher"), ref.labels("teacher")
        assert run.complete and run.remaining() == [] and run.metadata == {"teacher": "hybrik"}
        for name in LABEL_FIELDS:
            np.testing.assert_array_equal(run.read(name), ref_run.read(name))


def test_label_run_killed_during_creation_is_recreated(session: Path) -> None:
    rc = run_python(f"""
        import os, signal
        import wavecap.datasets.label_writer as lw_module
        def fsync(f):
            os.kill(os.getpid(), signal.SIGKILL)
        lw_module.fsync = fsync
        lw_module.LabelWriter({str(session)!r}, "teacher", fields={{"x": ((2,), "float32")}}, chunk_size=6)
    """)
    assert rc == -signal.SIGKILL
    finish_labels(session)
    with open_session(session, validate="full") as s:
        assert s.labels("teacher").complete


def test_label_writer_checks_resume_arguments(session: Path) -> None:
    with LabelWriter(session, "teacher", fields=LABEL_FIELDS, chunk_size=6) as lw:
        lw.write(0, 6, label_values(0, 6))
        with pytest.raises(DataError, match="whole chunks"):
            lw.write(6, 9, label_values(6, 9))
        with pytest.raises(DataError, match="exactly the fields"):
            lw.write(6, 12, {"joints": label_values(6, 12)["joints"]})
        with pytest.raises(DataError, match=r"shape.*field=joints"):
            lw.write(6, 12, {"joints": np.zeros((6, 3)), "ok": np.ones(6, bool)})
    with pytest.raises(DataError, match=r"existing run has chunk_size 6, not 4.*field=chunk_size"):
        LabelWriter(session, "teacher", fields=LABEL_FIELDS, chunk_size=4)
    with pytest.raises(DataError, match=r"field=fields"):
        LabelWriter(session, "teacher", fields={"joints": ((17, 3), "float32")}, chunk_size=6)
    with pytest.raises(DataError, match="length 7 but /radar has 20"):
        LabelWriter(session, "other", fields=LABEL_FIELDS, length=7)
    with pytest.raises(DataError, match="unreadable"):
        LabelWriter(session.parent / "missing.h5", "run", fields=LABEL_FIELDS)
    assert not (session.parent / "missing.h5").exists()
    with LabelWriter(session, "teacher", fields={"x": ((), "int64")}, restart=True, timebase="/camera",
                     chunk_size=4) as lw:
        assert lw.remaining() == [(0, 4), (4, 6)]
        lw.write(0, 6, {"x": np.arange(6)})
    with open_session(session, validate="full") as s:
        run = s.labels("teacher")
        assert run.complete and run.timebase == "/camera" and run.read("x").tolist() == list(range(6))
        with pytest.raises(KeyError):
            s.labels("nope")


# -- documentation -------------------------------------------------------------


def test_docs_cover_the_schema() -> None:
    text = DOCS.read_text()
    assert f"`{SCHEMA_VERSION}`" in text
    names = [a.name for a in ROOT_ATTRS]
    for group in GROUPS:
        assert f"`{group.path.replace('/*', '/<')}" in text or f"`{group.path}" in text, group.path
        names += [f.name for f in group.fields] + [a.name for a in group.attrs]
        names += [a.name for f in group.fields for a in f.attrs]
    missing = [n for n in names if f"`{n}`" not in text]
    assert not missing, f"undocumented schema names: {missing}"
