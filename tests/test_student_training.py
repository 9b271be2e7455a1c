"""Student training: a small run reduces validation error; resume after SIGKILL; 2-rank DDP equivalence."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from student_fixtures import REPO, compose_train, simulate, train_overrides
from wavecap.body import build_body_model
from wavecap.student.model import build_student
from wavecap.student.training import build_datasets, load_checkpoint, model_from_checkpoint, train, validate

SCRIPT = str(REPO / "scripts" / "train_student.py")


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    root = tmp_path_factory.mktemp("student_training")
    return [simulate(root / "train.h5", seed=0)], [simulate(root / "val.h5", seed=1)]


def _weights(path):
    return load_checkpoint(path)["model"]


def _max_diff(a, b):
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def test_small_training_run_reduces_validation_error(sessions, tmp_path):
    train_paths, val_paths = sessions
    cfg = compose_train(train_overrides(train_paths, val_paths, tmp_path / "run", steps=60))
    body_model = build_body_model("stand-in")
    train_set, val_set = build_datasets(cfg, body_model)
    model = build_student(cfg.student)
    model.encoder.fit_normalizer(*map(torch.from_numpy, train_set.training_points()))
    before = validate(model, val_set, body_model, 4, cfg)["val_joint_error_mm"]
    summary = train(cfg)
    after = validate(model_from_checkpoint(tmp_path / "run" / "best.pt"), val_set, body_model, 4, cfg)
    assert summary["step"] == 60 and (tmp_path / "run" / "log.csv").exists()
    assert after["val_joint_error_mm"] == pytest.approx(summary["best_val_joint_error_mm"], rel=1e-5)
    assert after["val_joint_error_mm"] < 0.5 * before
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert bool(ckpt["model"]["encoder.normalizer.fitted"]) and ckpt["label_frame"] == "radar"


def test_resume_after_sigkill_matches_uninterrupted_run(sessions, tmp_path):
    train_paths, val_paths = sessions
    steps = 16
    reference = train_overrides(train_paths, val_paths, tmp_path / "ref", steps=steps)
    subprocess.run([sys.executable, SCRIPT, *reference, f"hydra.run.dir={tmp_path}/h0"], check=True, cwd=REPO)

    killed = train_overrides(train_paths, val_paths, tmp_path / "kill", steps=steps)
    proc = subprocess.Popen([sys.executable, SCRIPT, *killed, f"hydra.run.dir={tmp_path}/h1"], cwd=REPO)
    last = tmp_path / "kill" / "last.pt"
    while not last.exists() and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    interrupted_at = load_checkpoint(last)["step"]
    assert interrupted_at < steps
    subprocess.run([sys.executable, SCRIPT, *killed, f"hydra.run.dir={tmp_path}/h2"], check=True, cwd=REPO)
    a, b = load_checkpoint(tmp_path / "ref" / "last.pt"), load_checkpoint(last)
    assert a["step"] == b["step"] == steps
    assert _max_diff(a["model"], b["model"]) == 0.0
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]


def test_ddp_two_gloo_ranks_match_one_rank(sessions, tmp_path):
    train_paths, val_paths = sessions
    one = train_overrides(train_paths, val_paths, tmp_path / "one", steps=3, **{"augment.enabled": True})
    two = train_overrides(train_paths, val_paths, tmp_path / "two", steps=3, **{"augment.enabled": True})
    subprocess.run([sys.executable, SCRIPT, *one, f"hydra.run.dir={tmp_path}/h0"], check=True, cwd=REPO)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", SCRIPT,
                    *two, f"hydra.run.dir={tmp_path}/h1"], check=True, cwd=REPO)
    a, b = _weights(tmp_path / "one" / "last.pt"), _weights(tmp_path / "two" / "last.pt")
    initial = build_student(compose_train(one).student).state_dict()
    assert _max_diff(a, b) <= 1e-5
    assert _max_diff(a, initial) > 1e-3  # the steps did train


def test_block_split_without_validation_frames_is_a_clear_error(sessions, tmp_path):
    train_paths, _ = sessions
    cfg = compose_train(train_overrides(train_paths, [], tmp_path / "run", steps=1, **{
        "val_sessions": "[]", "split.mode": "blocks", "split.block_s": 60.0, "split.val_every": 5}))
    with pytest.raises(ValueError, match="no validation frames"):
        build_datasets(cfg, build_body_model("stand-in"))
