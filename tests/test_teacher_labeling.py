"""Labeling sessions with the teacher: label contract, clocks and frames, resume after SIGKILL, keypoint source."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from wavecap.body import build_body_model
from wavecap.body.skeleton import HYBRIK_JOINT_NAMES
from wavecap.datasets import SessionWriter, open_session
from wavecap.datasets.sim.capture import SimulatorConfig, SyntheticCapture, write_session
from wavecap.errors import DataError
from wavecap.geometry import axis_angle_to_matrix, resample_linear, resample_rotations
from wavecap.teacher.evaluation import label_config
from wavecap.teacher.label_frames import LABEL_FIELDS, LabelTrack, resample_track, smooth_track
from wavecap.teacher.labeling import BoxSource, _session_boxes, label_sessions, read_session_info

REPO = Path(__file__).resolve().parent.parent
# Small and quick: 2 s, 15 fps camera of 96 x 72 px, 20 Hz radar.
SIM = {"seconds": 2.0, "seed": 11, "motions": ["squat"], "camera": {"width": 96, "height": 72, "fps": 15.0}}
# One thread: on a shared, oversubscribed machine OpenMP's barriers make two far slower.
LABEL = {"chunk_size": 8, "batch_size": 4, "num_workers": 1, "threads": 1, "progress": False, "run": "t"}


pytestmark = pytest.mark.usefixtures("one_thread")


def build_model_once():
    return build_body_model("stand-in")


@pytest.fixture(scope="module")
def body():
    return build_model_once()


@pytest.fixture(scope="module")
def session(tmp_path_factory, body) -> Path:
    from omegaconf import OmegaConf

    base = OmegaConf.load(REPO / "configs/datasets/simulator.yaml")
    base.pop("defaults")
    cfg = OmegaConf.merge(base, {"radar": OmegaConf.load(REPO / "configs/datasets/radar/iwr6843.yaml")}, SIM)
    path = tmp_path_factory.mktemp("sim") / "tiny.h5"
    with SyntheticCapture(SimulatorConfig.from_dict(cfg), body) as capture:
        write_session(capture, str(path), progress=False)
    return path


def raw_digest(path: Path) -> str:
    """Hash of every dataset and attribute outside /labels."""
    digest = hashlib.sha256()
    with h5py.File(path, "r") as f:
        def visit(name: str, obj: object) -> None:
            if name.startswith("labels"):
                return
            digest.update(name.encode())
            for key in sorted(obj.attrs):
                digest.update(key.encode() + np.asarray(obj.attrs[key]).tobytes())
            if isinstance(obj, h5py.Dataset):
                digest.update(np.asarray(obj[()]).tobytes())
        f.visititems(visit)
    return digest.hexdigest()


def read_run(path: Path, run: str) -> dict[str, np.ndarray]:
    with open_session(path) as s:
        labels = s.labels(run)
        assert labels.complete
        return {name: labels.read(name, 0, labels.length) for name in LABEL_FIELDS}


@pytest.fixture(scope="module")
def labelled(session, tmp_path_factory, body) -> Path:
    """An uninterrupted run (random-init compact teacher, tracking from the whole image)."""
    path = tmp_path_factory.mktemp("once") / "s.h5"
    shutil.copy(session, path)
    label_sessions(label_config({**LABEL, "session": str(path)}), body)
    return path


def test_label_groups_follow_the_contract(labelled, session):
    assert raw_digest(labelled) == raw_digest(session)  # raw streams untouched
    with open_session(labelled) as s:
        radar_len, camera_len = len(s.radar), len(s.camera)
        for run, frame, timebase, n in (("t", "radar", "/radar", radar_len), ("t_camera", "camera", "/camera", camera_len)):
            labels = s.labels(run)
            assert labels.complete and labels.timebase == timebase and labels.length == n
            assert {k: (tuple(v[0]), v[1].name) for k, v in labels.fields.items()} == {
                k: (shape, dtype) for k, (shape, dtype) in LABEL_FIELDS.items()}
            meta = labels.metadata
            assert meta["frame"] == frame and meta["source"] == "rgb" and meta["body_model"] == "stand-in"
            assert meta["checkpoint_sha256"].startswith("none") and "boxes:" in meta["config"]
            assert meta["code_version"].startswith("wavecap ") and meta["box_source"] == "track/fixed"
            conf = labels.read("joint_confidence", 0, n)
            assert np.isfinite(labels.read("joints29", 0, n)).all() and (conf >= 0).all() and (conf <= 1).all()


def test_radar_labels_are_camera_labels_moved_and_resampled(labelled):
    cam, radar = read_run(labelled, "t_camera"), read_run(labelled, "t")
    with open_session(labelled) as s:
        t_cam, t_radar = torch.as_tensor(s.camera.timestamps.copy()), torch.as_tensor(s.radar.timestamps.copy())
        T_rc = torch.linalg.inv(torch.as_tensor(s.radar.T_world_from_radar)) @ torch.as_tensor(s.camera.T_world_from_camera)
    inside = ((t_radar >= t_cam[0]) & (t_radar <= t_cam[-1])).numpy()
    assert inside.sum() >= 10 and not radar["valid"][~inside].any()
    joints = resample_linear(t_cam, torch.as_tensor(cam["joints29"]).double(), t_radar) @ T_rc[:3, :3].T + T_rc[:3, 3]
    np.testing.assert_allclose(radar["joints29"][inside], joints.numpy()[inside], atol=1e-4)
    root = resample_rotations(t_cam, axis_angle_to_matrix(torch.as_tensor(cam["global_orient"]).double()), t_radar)
    np.testing.assert_allclose(axis_angle_to_matrix(torch.as_tensor(radar["global_orient"]).double())[inside],
                               (T_rc[:3, :3] @ root)[inside], atol=1e-4)


def test_resume_after_sigkill_gives_identical_labels(labelled, session, tmp_path):
    path = tmp_path / "s.h5"
    shutil.copy(session, path)
    args = [sys.executable, str(REPO / "scripts/label_with_teacher.py"), f"session={path}",
            f"hydra.run.dir={tmp_path / 'hydra'}", *(f"{k}={v}" for k, v in LABEL.items() if k != "progress")]
    # No decoding workers in the killed run: orphaned workers would hold the file
    # for a few seconds after the kill (worker count does not change labels).
    proc = subprocess.Popen([*args, "progress=true", "num_workers=0"], stderr=subprocess.PIPE, cwd=tmp_path)
    seen, start = b"", time.monotonic()
    # Killed once tqdm reports >= 12 camera frames: chunk 1 is written, chunk 2 in flight.
    while max(map(int, re.findall(rb"(\d+)/\d+ \[", seen)), default=0) < 12:
        assert proc.poll() is None and time.monotonic() - start < 120, seen.decode(errors="replace")
        seen += os.read(proc.stderr.fileno(), 256)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with open_session(path) as s:
        assert "t_camera" in s.label_runs and not s.labels("t_camera").complete
    # The rerun (in this process, same settings) resumes the killed run.
    label_sessions(label_config({**LABEL, "session": str(path)}), build_model_once())
    assert raw_digest(path) == raw_digest(session)
    for run in ("t", "t_camera"):
        again, once = read_run(path, run), read_run(labelled, run)
        for name in LABEL_FIELDS:
            np.testing.assert_array_equal(again[name], once[name], err_msg=f"{run}/{name}")


def test_session_boxes_without_a_person_give_invalid_labels(session, tmp_path, body):
    path = tmp_path / "boxes.h5"
    shutil.copy(session, path)
    with h5py.File(path, "a") as f:  # the simulator's silhouette boxes, with the person gone in some frames
        boxes = f["camera/boxes"][()]
        absent = np.zeros(len(boxes), bool)
        absent[[0, 1, 9, 10, 11]] = True
        boxes[absent] = np.nan
        f["camera/boxes"][...] = boxes
    held, person = _session_boxes(str(path))
    np.testing.assert_array_equal(person.numpy(), ~absent)
    np.testing.assert_array_equal(held[[0, 1, 2]].numpy(), boxes[[2, 2, 2]])  # start: the first person box
    np.testing.assert_array_equal(held[[9, 10, 11, 12]].numpy(), boxes[[8, 8, 8, 12]])  # then the previous one
    # Frames without a person turn invalid in a track the teacher found valid throughout.
    cfg = label_config({**LABEL, "session": str(path), "boxes.source": "session"})
    frames = torch.arange(8, 13)
    flagged = BoxSource(read_session_info(str(path)), cfg.boxes).flag_absent(
        frames, _track(len(frames), torch.eye(3, dtype=torch.float64).expand(len(frames), 24, 3, 3)))
    np.testing.assert_array_equal(flagged.valid.numpy(), ~absent[8:13])
    np.testing.assert_array_equal(flagged.confidence.numpy(), (~absent[8:13]).astype(np.float64))
    label_sessions(cfg, body)
    cam = read_run(path, "t_camera")
    assert not cam["valid"][absent].any() and (cam["confidence"][absent] == 0).all()
    assert np.isfinite(cam["joints29"]).all()  # every frame was still cropped and labelled
    with open_session(path) as s:
        assert s.labels("t").metadata["box_source"] == "session/fixed" and s.labels("t").complete
    with h5py.File(path, "a") as f:
        del f["camera/boxes"]
    with pytest.raises(DataError, match=r"stores no person boxes.*group=/camera, field=boxes"):
        label_sessions(label_config({**LABEL, "session": str(path), "boxes.source": "session", "run": "u"}), body)


def test_keypoint_source_reproduces_ground_truth(session, tmp_path, body):
    path = tmp_path / "kp.h5"
    with open_session(session) as s:
        gt, radar, cam = s.ground_truth, s.radar, s.camera
        smpl, joints, gt_times = gt.smpl(), gt.field("joints"), gt.timestamps.copy()
        with SessionWriter(path, created_by="test", body_model="stand-in") as w:
            w.write_radar([radar.frame(i) for i in range(len(radar))], radar.timestamps.copy(),
                          columns=radar.columns, T_world_from_radar=radar.T_world_from_radar, config=radar.config)
            w.write_camera(np.stack([cam.frame(i) for i in range(len(cam))]), cam.timestamps.copy(),
                           intrinsics=cam.intrinsics, T_world_from_camera=cam.T_world_from_camera, fps=cam.fps)
            w.write_ground_truth(gt_times, joints=joints, joint_names=HYBRIK_JOINT_NAMES, skeleton="hybrik29", **smpl)
            w.write_keypoints("gt29", gt_times, joints, joint_names=HYBRIK_JOINT_NAMES, skeleton="hybrik29",
                              frame="world")
        T_wr = torch.as_tensor(radar.T_world_from_radar)
        t_radar = torch.as_tensor(radar.timestamps.copy())
    label_sessions(label_config({**LABEL, "session": str(path), "source": "keypoints", "keypoints.stream": "gt29"}),
                   body)
    out = read_run(path, "t")
    with open_session(path) as s:
        assert s.labels("t").metadata["source"] == "keypoints:gt29" and s.labels("t_camera").complete
    valid = out["valid"]
    assert valid.mean() > 0.9
    world = torch.as_tensor(out["joints29"]).double() @ T_wr[:3, :3].T + T_wr[:3, 3]
    truth = resample_linear(torch.as_tensor(gt_times), torch.as_tensor(joints).double(), t_radar)
    error = torch.linalg.vector_norm(world - truth, dim=-1)[torch.as_tensor(valid)]
    assert float(error.max()) <= 0.01
    # The fitted shape is the subject's: FK of the labels' parameters lands on the labels' joints.
    fk = body(axis_angle_to_matrix(torch.as_tensor(out["global_orient"])),
              axis_angle_to_matrix(torch.as_tensor(out["body_pose"]).reshape(-1, 23, 3)),
              torch.as_tensor(out["betas"]), torch.as_tensor(out["transl"]), return_vertices=False).joints29
    assert float((fk - torch.as_tensor(out["joints29"])).abs()[torch.as_tensor(valid)].max()) < 0.01


def _track(T: int, rot: torch.Tensor) -> LabelTrack:
    return LabelTrack(rotmats=rot, betas=torch.zeros(T, 10, dtype=torch.float64),
                      transl=torch.zeros(T, 3, dtype=torch.float64), joints29=torch.zeros(T, 29, 3, dtype=torch.float64),
                      joint_confidence=torch.ones(T, 29, dtype=torch.float64), confidence=torch.ones(T, dtype=torch.float64),
                      valid=torch.ones(T, dtype=torch.bool))


def test_resampling_marks_gaps_and_outside_frames():
    times = np.array([0.0, 0.1, 0.2, 0.6, 0.7])  # a 0.4 s gap
    T = len(times)
    angles = torch.as_tensor(times)[:, None, None] * torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    track = _track(T, axis_angle_to_matrix(angles.expand(T, 24, 3)))
    out = resample_track(times, track, np.array([-0.05, 0.05, 0.4, 0.65, 0.8]), 0.15, 0.5)
    assert out.valid.tolist() == [False, True, True, True, False]
    assert out.confidence.tolist() == [0.0, 1.0, 0.5, 1.0, 0.0]
    # SLERP: the angle about z grows linearly with time inside the span.
    np.testing.assert_allclose(torch.atan2(out.rotmats[1:4, 3, 1, 0], out.rotmats[1:4, 3, 0, 0]).numpy(),
                               [0.05, 0.4, 0.65], atol=1e-9)


def test_smoothing_reduces_rotation_jitter(body):
    gen = torch.Generator().manual_seed(0)
    T = 60
    times = np.arange(T) / 30.0
    truth = torch.as_tensor(times)[:, None, None] * torch.tensor([0.5, 0.0, 0.0], dtype=torch.float64)
    truth = truth.expand(T, 24, 3)
    noisy = truth + 0.05 * torch.randn(T, 24, 3, generator=gen, dtype=torch.float64)
    track = _track(T, axis_angle_to_matrix(noisy))
    smooth = smooth_track(times, track, 0.05, body)
    true_rot = axis_angle_to_matrix(truth)

    def error(rot: torch.Tensor) -> float:
        return float((rot - true_rot)[5:-5].norm(dim=(-1, -2)).mean())

    assert error(smooth.rotmats) < 0.6 * error(track.rotmats)
    fk = body(smooth.rotmats[:, 0].float(), smooth.rotmats[:, 1:].float(), return_vertices=False).joints29
    np.testing.assert_allclose(smooth.joints29.float().numpy(), fk.numpy(), atol=1e-5)
