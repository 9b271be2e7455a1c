"""Pose metrics on hand-made cases (wavecap.metrics)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wavecap.geometry import random_rotation_matrix
from wavecap.metrics import accel_errors, axis_errors, jitter, joint_errors, pose_metrics


@pytest.fixture
def gt():
    return np.random.default_rng(0).normal(size=(20, 24, 3)) * 0.3


def test_pa_mpjpe_of_rotated_scaled_shifted_copy_is_zero(gt):
    R = random_rotation_matrix(20, generator=torch.Generator().manual_seed(1), dtype=torch.float64).numpy()  # [T, 3, 3]
    pred = 1.3 * np.einsum("tij,tkj->tki", R, gt) + np.array([0.5, -2.0, 1.0])
    assert joint_errors(pred, gt, "procrustes").max() < 1e-6
    assert joint_errors(pred, gt, "root").mean() > 50.0


def test_ten_mm_offset(gt):
    pred = gt + np.array([0.006, 0.0, 0.008])  # 10 mm, whole body
    np.testing.assert_allclose(joint_errors(pred, gt, "none"), 10.0, atol=1e-9)
    np.testing.assert_allclose(joint_errors(pred, gt, "root"), 0.0, atol=1e-9)  # root alignment removes it
    one_joint = gt.copy()
    one_joint[:, 5, 2] += 0.010
    err = joint_errors(one_joint, gt, "root")
    np.testing.assert_allclose(err[:, 5], 10.0, atol=1e-9)
    assert np.abs(np.delete(err, 5, axis=1)).max() < 1e-9
    np.testing.assert_allclose(axis_errors(one_joint, gt)[:, 5], [[0.0, 0.0, 10.0]] * 20, atol=1e-9)


def test_pck_accel_and_jitter_hand_cases(gt):
    pred = gt.copy()
    pred[:, 3] += [0.2, 0.0, 0.0]  # one joint 200 mm off (> 150 mm)
    metrics = pose_metrics(pred, gt, fps=20.0)
    assert metrics["overall"]["pck3d_pct"] == pytest.approx(100.0 * 23 / 24)  # only joint 3 fails
    assert metrics["per_joint"]["pck3d_pct"]["3"] == 0.0
    assert metrics["overall"]["accel_error_mm_per_frame2"] == pytest.approx(0.0, abs=1e-9)  # constant offset
    # A parabola x = a t^2 / 2 has second difference a per frame^2 and zero third difference.
    t = np.arange(10.0)
    track = np.zeros((10, 2, 3))
    track[:, 1, 0] = 0.004 * t**2 / 2  # joint 1 accelerates at 4 mm/frame^2 relative to the root
    still = np.zeros_like(track)
    np.testing.assert_allclose(accel_errors(track, still)[:, 1], 4.0, atol=1e-9)
    np.testing.assert_allclose(jitter(track), 0.0, atol=1e-9)
    cubic = np.zeros((10, 1, 3))
    cubic[:, 0, 2] = 0.001 * t**3
    np.testing.assert_allclose(jitter(cubic), 6.0, atol=1e-9)  # third difference of t^3 is 6
    assert pose_metrics(track, still, fps=10.0)["overall"]["accel_error_m_per_s2"] == pytest.approx(0.2)


def test_shape_mismatch_is_refused(gt):
    with pytest.raises(ValueError):
        joint_errors(gt[:, :10], gt)
