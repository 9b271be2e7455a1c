"""Student inference: the infer script's outputs, sliding windows vs full sequence, streaming vs causal offline."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from student_fixtures import REPO, compose_train, simulate, train_overrides
from wavecap.body import build_body_model
from wavecap.datasets import open_session
from wavecap.datasets.motion import load_amass_npz
from wavecap.student.data import read_radar
from wavecap.student.inference import StreamingPredictor, predict, read_predictions_h5, smpl_outputs
from wavecap.student.model import build_student
from wavecap.student.training import atomic_save, model_from_checkpoint


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("student_inference") / "s.h5", seed=2, seconds=2.5)


def _student_config(session, frame_local=False, **temporal):
    cfg = compose_train(train_overrides([session], [session], session.parent, steps=1)).student
    cfg = OmegaConf.merge(cfg, {"temporal": temporal})
    return OmegaConf.merge(cfg, {"local_frames": 0, "offset_frames": 1}) if frame_local else cfg


def _checkpoint(session, path, frame_local=False, **temporal):
    """An untrained student with a fitted normaliser, saved as the trainer does."""
    cfg = _student_config(session, frame_local, **temporal)
    model = build_student(cfg)
    with open_session(session) as s:
        points, mask = read_radar(s, model.encoder.columns, model.encoder.max_points)
    model.encoder.fit_normalizer(torch.from_numpy(points), torch.from_numpy(mask))
    atomic_save({"model": model.state_dict(), "student_config": OmegaConf.to_container(cfg, resolve=True),
                 "label_frame": "radar", "fps": 20.0}, path)
    return path, points, mask


def test_infer_script_writes_hdf5_and_amass_npz(session, tmp_path):
    ckpt, _, _ = _checkpoint(session, tmp_path / "student.pt")
    out = tmp_path / "pred.h5"
    subprocess.run([sys.executable, str(REPO / "scripts" / "infer_student.py"), f"session={session}",
                    f"checkpoint={ckpt}", f"out={out}", "mode=window", "window=16", "overlap=4",
                    f"hydra.run.dir={tmp_path}/hydra"], check=True, cwd=REPO)
    pred = read_predictions_h5(out)
    with open_session(session) as s:
        T, times = s.radar.T_world_from_radar, s.radar.timestamps
    n = len(times)
    np.testing.assert_array_equal(pred["timestamps"], times)
    assert pred["radar/joints29"].shape == pred["world/joints29"].shape == (n, 29, 3)
    assert pred["contact_prob"].shape == (n, 4) and pred["joint_scale_m"].shape == (n, 24)
    assert ((pred["contact_prob"] >= 0) & (pred["contact_prob"] <= 1)).all() and (pred["joint_scale_m"] > 0).all()
    # The world-frame SMPL sequence is the radar-frame one moved by T_world_from_radar.
    moved = pred["radar/joints29"] @ T[:3, :3].T + T[:3, 3]
    np.testing.assert_allclose(pred["world/joints29"], moved, atol=1e-4)
    with h5py.File(out) as f:
        assert f.attrs["label_frame"] == b"radar" and len(f.attrs["checkpoint_sha256"]) == 64
    motion = load_amass_npz(tmp_path / "pred.npz")
    assert len(motion) == n
    np.testing.assert_allclose(motion.transl, pred["world/transl"], atol=1e-5)
    np.testing.assert_allclose(motion.body_pose[:, :63], pred["body_pose"][:, :63], atol=1e-5)  # SMPL-H drops the hands


def test_sliding_window_equals_full_sequence_for_frame_local_model(session, tmp_path):
    # Exact attention with no layers, no local mixing and the raw anchor as the offset: each
    # frame's pose depends on that frame (and its anchor, computed over the whole capture)
    # only, so any windowing must reproduce the full pass.
    ckpt, points, mask = _checkpoint(session, tmp_path / "local.pt", frame_local=True, backend="exact", depth=0)
    model = model_from_checkpoint(ckpt)
    full = predict(model, points, mask, "full")
    windowed = predict(model, points, mask, "window", window=16, overlap=6)
    for name in ("rotmats", "transl", "contact_logits", "joint_log_scale"):
        np.testing.assert_allclose(windowed[name], full[name], atol=1e-5, err_msg=name)
    # The shape is pooled per window, then blended: close to the whole-capture mean.
    np.testing.assert_allclose(windowed["betas"], full["betas"], atol=0.02)


def test_sliding_window_blends_performer_windows_smoothly(session, tmp_path):
    ckpt, points, mask = _checkpoint(session, tmp_path / "perf.pt")
    model = model_from_checkpoint(ckpt)
    windowed = predict(model, points, mask, "window", window=16, overlap=8)
    full = predict(model, points, mask, "full")
    rot = windowed["rotmats"]
    np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-5)
    assert np.abs(windowed["transl"] - full["transl"]).max() < 0.5  # same model, different context only
    body_model = build_body_model("stand-in")
    outputs = smpl_outputs(windowed, body_model, "radar", np.eye(4))
    np.testing.assert_allclose(outputs["world/joints29"], outputs["radar/joints29"], atol=1e-5)


def test_streaming_api_equals_causal_offline(session, tmp_path):
    ckpt, points, mask = _checkpoint(session, tmp_path / "causal.pt")
    model = model_from_checkpoint(ckpt, causal=True)
    offline = predict(model, points, mask, "full")
    with open_session(session) as s:
        stream = StreamingPredictor(model, s.radar.columns)
        steps = [stream.step(frame.data) for frame in s.radar.frames()]
    for name, key in (("rotmats", "rotmats"), ("transl", "transl"), ("betas", "betas")):
        np.testing.assert_allclose(np.stack([o[key] for o in steps]), offline[name], atol=1e-4, err_msg=name)
    probs = 1 / (1 + np.exp(-offline["contact_logits"]))
    np.testing.assert_allclose(np.stack([o["contact_prob"] for o in steps]), probs, atol=1e-4)
