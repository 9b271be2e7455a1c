"""Student losses: values on known cases, training on a toy batch, gradient flow."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wavecap.geometry.rotations import axis_angle_to_matrix
from wavecap.student.encoders import PointSetEncoder, RadarFrames
from wavecap.student.losses import (
    StudentTargets,
    body_frame,
    contact_loss,
    joint_nll,
    joint_position_loss,
    rotation_loss,
    smoothness_loss,
    smpl_joints,
    student_loss,
)
from wavecap.student.model import RadarStudent
from wavecap.student.targets import label_contacts
from wavecap.student.temporal import TemporalModel

COLUMNS = ("x", "y", "z", "doppler", "snr")


pytestmark = pytest.mark.usefixtures("one_thread")


def test_joint_position_loss_weights_and_missing_labels():
    pred = torch.zeros(1, 2, 3, 3)
    target = torch.zeros(1, 2, 3, 3)
    target[0, :, 0, 0] = 0.1  # joint 0 is 10 cm off
    target[0, :, 1, 0] = 1.0  # joint 1 is 1 m off but has zero confidence
    target[0, 1, 2] = float("nan")  # joint 2 untracked in frame 1
    confidence = torch.tensor([[[1.0, 0.0, 1.0], [1.0, 0.0, 1.0]]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    loss = joint_position_loss(pred, target, mask, confidence)
    assert loss.item() == pytest.approx(0.2 / 3, abs=1e-6)  # (0.1 + 0 + 0.1 + 0) / 3 weighted joints
    mask[0, 1] = False
    assert joint_position_loss(pred, target, mask, confidence).item() == pytest.approx(0.05, abs=1e-6)


def test_rotation_loss_is_chordal():
    angle = 0.7
    pred = axis_angle_to_matrix(torch.tensor([0.0, 0.0, angle]))[None, None, None]
    target = torch.eye(3)[None, None, None]
    loss = rotation_loss(pred, target, torch.ones(1, 1, dtype=torch.bool))
    assert loss.item() == pytest.approx(8 * math.sin(angle / 2) ** 2, rel=1e-5)


@pytest.mark.parametrize("kind", ["laplace", "gaussian"])
def test_joint_nll_is_minimised_at_the_error_scale(kind):
    g = torch.Generator().manual_seed(0)
    target = torch.zeros(1, 4000, 1, 3)
    pred = torch.randn(1, 4000, 1, 3, generator=g) * 0.04
    mask = torch.ones(1, 4000, dtype=torch.bool)
    scales = torch.linspace(0.005, 0.1, 96)
    nll = torch.stack([joint_nll(pred, target, torch.full((1, 4000, 1), math.log(s)), mask, kind=kind)
                       for s in scales])
    best = scales[nll.argmin()]
    expected = pred.abs().mean() if kind == "laplace" else pred.square().mean().sqrt()
    assert abs(best - expected) < 0.002
    log_scale = torch.zeros(1, 4000, 1, requires_grad=True)
    joint_nll(pred.requires_grad_(), target, log_scale, mask, kind=kind).backward()
    assert pred.grad is None or pred.grad.abs().max() == 0  # the error itself is not trained by the NLL


def test_smoothness_and_contact_losses():
    t = torch.arange(10.0)
    track = torch.stack([t * 0.02, t * 0.0, 0.5 + 0.01 * t], -1)[None, :, None]  # constant velocity
    mask = torch.ones(1, 10, dtype=torch.bool)
    assert smoothness_loss(track, mask).item() == pytest.approx(0.0, abs=1e-7)
    shaky = track.clone()
    shaky[0, 5, 0, 2] += 0.01
    assert smoothness_loss(shaky, mask).item() > 0
    assert smoothness_loss(shaky, mask, shaky).item() == pytest.approx(0.0, abs=1e-7)
    logits = torch.tensor([[[10.0, -10.0, 0.0, 0.0]]])
    labels = torch.tensor([[[1.0, 0.0, 1.0, 0.0]]])
    assert contact_loss(logits, labels, torch.ones(1, 1, dtype=torch.bool)).item() == pytest.approx(
        math.log(2) / 2, rel=1e-3)


def test_label_contacts(body):
    fps, frames = 20.0, 12
    orient = np.tile([math.pi / 2, 0.0, 0.0], (frames, 1))  # upright, facing -y
    pose = np.zeros((frames, 69))
    betas = np.zeros(10)
    with torch.no_grad():
        sole = body(torch.tensor(orient[:1], dtype=torch.float32), torch.zeros(1, 69)).vertices[0, :, 2].min()
    standing = np.tile([0.0, 2.0, -float(sole)], (frames, 1))  # soles on the floor
    assert label_contacts(body, fps, orient, pose, betas, standing).all()
    lifted = standing + [0.0, 0.0, 0.2]
    assert not label_contacts(body, fps, orient, pose, betas, lifted).any()
    sliding = standing + np.arange(frames)[:, None] * [0.05, 0.0, 0.0]  # 1 m/s along the floor
    assert not label_contacts(body, fps, orient, pose, np.zeros((frames, 10)), sliding).any()


def test_body_frame_removes_the_heading_but_keeps_the_pose(body):
    g = torch.Generator().manual_seed(3)
    rotmats = axis_angle_to_matrix(0.3 * torch.randn(1, 2, 24, 3, generator=g))
    betas, transl = torch.zeros(1, 2, 10), torch.randn(1, 2, 3, generator=g)
    joints = smpl_joints(body, rotmats, betas, transl)  # [1, 2, 29, 3]
    turned = rotmats.clone()
    yaw = axis_angle_to_matrix(torch.tensor([0.0, 0.0, 1.1]))
    turned[:, :, 0] = yaw @ rotmats[:, :, 0]  # the same pose facing elsewhere
    turned_joints = smpl_joints(body, turned, betas, transl)
    mask = torch.ones(1, 2, dtype=torch.bool)
    assert joint_position_loss(turned_joints - turned_joints[:, :, :1], joints - joints[:, :, :1], mask) > 0.05
    assert torch.allclose(body_frame(turned_joints, turned[:, :, 0]), body_frame(joints, rotmats[:, :, 0]), atol=1e-5)
    bent = rotmats.clone()
    bent[:, :, 4] = axis_angle_to_matrix(torch.tensor([1.0, 0.0, 0.0])) @ bent[:, :, 4]
    bent_joints = smpl_joints(body, bent, betas, transl)  # a knee bent further: the pose differs
    assert (body_frame(bent_joints, bent[:, :, 0]) - body_frame(joints, rotmats[:, :, 0])).abs().max() > 0.05


def test_smpl_joints_match_the_body_model(body):
    orient = torch.tensor([[math.pi / 2, 0.0, 0.0]])
    pose = torch.randn(1, 69, generator=torch.Generator().manual_seed(0)) * 0.3
    betas = torch.zeros(1, 10)
    transl = torch.tensor([[0.1, 2.0, 0.9]])
    rot = axis_angle_to_matrix(torch.cat([orient, pose], dim=1).reshape(1, 24, 3))  # [1, 24, 3, 3]
    joints = smpl_joints(body, rot[None], betas[None], transl[None])
    assert torch.allclose(joints[0], body(orient, pose, betas, transl, return_vertices=False).joints29, atol=1e-5)


def _toy():
    torch.manual_seed(0)
    encoder = PointSetEncoder(COLUMNS, out_dim=24, hidden=(16, 24))
    temporal = TemporalModel(32, depth=1, heads=4, dim_head=8, nb_features=16)
    model = RadarStudent(encoder, temporal, 32, keypoint_heads={"h36m": 17})
    g = torch.Generator().manual_seed(1)
    b, t = 2, 12
    points = torch.randn(b, t, 8, len(COLUMNS), generator=g)
    point_mask = torch.rand(b, t, 8, generator=g) < 0.7
    point_mask[0, 3] = False  # an empty frame, so the empty embedding gets a gradient
    frame_mask = torch.ones(b, t, dtype=torch.bool)
    frame_mask[1, 9:] = False
    aa = torch.randn(b, t, 24, 3, generator=g) * 0.2
    aa[..., 0, :] += torch.tensor([math.pi / 2, 0.0, 0.0])
    targets = StudentTargets(
        frame_mask=frame_mask,
        rotmats=axis_angle_to_matrix(aa),
        betas=torch.randn(b, 10, generator=g) * 0.5,
        transl=torch.randn(b, t, 3, generator=g) * 0.1 + torch.tensor([0.0, 2.5, 0.9]),
        joint_confidence=torch.rand(b, t, 29, generator=g),
        contacts=torch.rand(b, t, 4, generator=g) < 0.5,
        keypoints={"h36m": torch.randn(b, t, 17, 3, generator=g)},
    )
    return model, RadarFrames(frame_mask, points, point_mask), targets


def test_losses_decrease_on_a_toy_batch(body):
    model, frames, targets = _toy()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = []
    for _ in range(30):
        total, terms = student_loss(model(frames), targets, body)
        optimiser.zero_grad()
        total.backward()
        optimiser.step()
        history.append((total.item(), terms))
    assert set(history[0][1]) == {"joints", "pose", "body_pose", "smoothness", "uncertainty", "rotations", "betas", "transl",
                                  "contacts", "keypoints"}
    assert history[-1][0] < 0.5 * history[0][0]
    for name in ("joints", "transl", "contacts", "keypoints", "uncertainty"):
        assert history[-1][1][name] < history[0][1][name], name


def test_gradient_reaches_every_parameter(body):
    model, frames, targets = _toy()
    total, _ = student_loss(model(frames), targets, body)
    total.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
               or p.grad.abs().max() == 0]
    assert not missing


def test_student_loss_rejects_unknown_keypoint_skeletons(body):
    model, frames, targets = _toy()
    targets.keypoints["kinect"] = torch.zeros(2, 12, 32, 3)
    with pytest.raises(ValueError, match="kinect"):
        student_loss(model(frames), targets, body)
