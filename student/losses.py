"""Distillation losses of the radar student: pure functions of tensors.

Positions in metres, rotations as matrices, every loss averaged over valid
frames (``frame_mask``) and, where given, weighted by the teacher's per-joint
confidence. :func:`student_loss` combines them with weights from config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import torch
import torch.nn.functional as F

from wavecap.body import BodyModel
from wavecap.body.skeleton import NUM_SMPL_JOINTS
from wavecap.student.model import StudentOutput

DEFAULT_WEIGHTS: dict[str, float] = {
    "joints": 1.0,        # m, mean per-joint position error through FK
    "pose": 1.0,          # m, the same with both pelvises at the origin: the body's pose free of its place
    "body_pose": 1.0,     # m, the same in each body's own root frame: the pose free of its heading too
    "rotations": 0.1,     # squared Frobenius norm, in [0, 8] per joint
    "betas": 0.01,
    "transl": 1.0,        # m
    "contacts": 0.05,     # BCE
    "smoothness": 1.0,    # m / frame^2
    "uncertainty": 0.01,  # NLL of the joint error under the predicted scale
    "keypoints": 1.0,     # m
}


def _weighted_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """sum(values * weight) / sum(weight); 0 when nothing is weighted."""
    weight = weight.to(values.dtype)
    return (values * weight).sum() / weight.sum().clamp_min(1e-8)


def _point_weights(target: torch.Tensor, frame_mask: torch.Tensor, confidence: torch.Tensor | None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """NaN-free target [B, T, J, 3] and weights [B, T, J]: frame validity x
    confidence, zero where a label is NaN (keypoint streams mark untracked joints so)."""
    tracked = torch.isfinite(target).all(-1)  # [B, T, J]
    weight = frame_mask[..., None].to(target.dtype) * tracked.to(target.dtype)
    if confidence is not None:
        weight = weight * torch.nan_to_num(confidence.to(target.dtype))
    return torch.where(tracked[..., None], target, 0.0), weight


def smpl_joints(body_model: BodyModel, rotmats: torch.Tensor, betas: torch.Tensor,
                transl: torch.Tensor) -> torch.Tensor:
    """Differentiable SMPL forward kinematics of every frame.

    Args:
        body_model: the shared body model.
        rotmats: [B, T, 24, 3, 3] local rotations (root in the label frame).
        betas: [B, T, K] shape per frame.
        transl: [B, T, 3] metres.

    Returns:
        [B, T, 29, 3] joints (SMPL 24 + HybrIK leaves), metres, label frame.
    """
    b, t = rotmats.shape[:2]
    out = body_model(rotmats[:, :, 0].flatten(0, 1), rotmats[:, :, 1:].flatten(0, 1),
                     betas.flatten(0, 1), transl.flatten(0, 1), return_vertices=False)
    return out.joints29.unflatten(0, (b, t))


def body_frame(joints: torch.Tensor, root: torch.Tensor) -> torch.Tensor:
    """Joints relative to the pelvis, in the body's own root frame.

    Args:
        joints: [B, T, J, 3] metres, pelvis first.
        root: [B, T, 3, 3] global root rotation.

    Returns:
        [B, T, J, 3]: R_root^T (joint - pelvis).
    """
    return (joints - joints[:, :, :1]) @ root  # row vectors: (R^T v)^T = v^T R


def joint_position_loss(pred: torch.Tensor, target: torch.Tensor, frame_mask: torch.Tensor,
                        confidence: torch.Tensor | None = None) -> torch.Tensor:
    """Confidence-weighted mean per-joint position error.

    Args:
        pred: [B, T, J, 3] metres.
        target: [B, T, J, 3] metres; NaN = no label for that joint.
        frame_mask: [B, T] bool valid frames.
        confidence: [B, T, J] teacher confidence in [0, 1]; None = 1.

    Returns:
        Scalar, metres.
    """
    target, weight = _point_weights(target, frame_mask, confidence)
    return _weighted_mean(torch.linalg.vector_norm(pred - target, dim=-1), weight)


def rotation_loss(pred: torch.Tensor, target: torch.Tensor, frame_mask: torch.Tensor,
                  confidence: torch.Tensor | None = None) -> torch.Tensor:
    """Squared Frobenius distance of rotation matrices (smooth everywhere,
    ``8 sin^2(angle / 2)`` per joint).

    Args:
        pred: [B, T, J, 3, 3].
        target: [B, T, J, 3, 3].
        frame_mask: [B, T] bool.
        confidence: [B, T, J] weights; None = 1.

    Returns:
        Scalar.
    """
    weight = frame_mask[..., None].to(pred.dtype).expand(pred.shape[:3])
    if confidence is not None:
        weight = weight * confidence.to(pred.dtype)
    return _weighted_mean((pred - target).square().sum((-1, -2)), weight)


def betas_loss(pred: torch.Tensor, target: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """Mean squared shape-coefficient error over valid frames.

    Args:
        pred: [B, T, K].
        target: [B, K] per sequence or [B, T, K] per frame.
        frame_mask: [B, T] bool.
    """
    target = target[:, None].expand_as(pred) if target.ndim == 2 else target
    return _weighted_mean((pred - target).square().mean(-1), frame_mask)


def translation_loss(pred: torch.Tensor, target: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean error of the SMPL translation [B, T, 3] (metres)."""
    return _weighted_mean(torch.linalg.vector_norm(pred - target, dim=-1), frame_mask)


def contact_loss(logits: torch.Tensor, target: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of foot-contact logits [B, T, P] against 0/1 labels [B, T, P]."""
    bce = F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), reduction="none")
    return _weighted_mean(bce, frame_mask[..., None].expand_as(bce))


def smoothness_loss(pred: torch.Tensor, frame_mask: torch.Tensor, target: torch.Tensor | None = None
                    ) -> torch.Tensor:
    """Mean acceleration error (or magnitude, without a target) of joint tracks.

    Args:
        pred: [B, T, J, 3] metres.
        frame_mask: [B, T] bool; a triple of frames counts only if all are valid.
        target: [B, T, J, 3] to match accelerations against; None penalises
            the predicted acceleration itself.

    Returns:
        Scalar, metres / frame^2.
    """
    def accel(x: torch.Tensor) -> torch.Tensor:
        return x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]  # [B, T-2, J, 3]

    if pred.shape[1] < 3:
        return pred.sum() * 0.0
    error = accel(pred) if target is None else accel(pred) - accel(target)
    valid = frame_mask[:, 2:] & frame_mask[:, 1:-1] & frame_mask[:, :-2]  # [B, T-2]
    if target is not None:
        valid = valid[..., None] & torch.isfinite(accel(target)).all(-1)
        error = torch.nan_to_num(error)
    else:
        valid = valid[..., None].expand(error.shape[:3])
    return _weighted_mean(torch.linalg.vector_norm(error, dim=-1), valid)


def joint_nll(pred: torch.Tensor, target: torch.Tensor, log_scale: torch.Tensor, frame_mask: torch.Tensor,
              confidence: torch.Tensor | None = None, kind: str = "laplace") -> torch.Tensor:
    """Negative log-likelihood of the joint errors under the predicted scale.

    Each coordinate's error is Laplace (scale b) or Gaussian (std sigma),
    shared by the joint's three coordinates; constants are dropped. The error
    is detached: the position losses train the pose, this trains the scale
    to match how wrong the pose is (rather than letting a large predicted
    scale discount hard joints).

    Args:
        pred: [B, T, J, 3] metres.
        target: [B, T, J, 3] metres (NaN = no label).
        log_scale: [B, T, J] log b or log sigma (log metres).
        frame_mask: [B, T] bool.
        confidence: [B, T, J] label weights; None = 1.
        kind: ``"laplace"`` or ``"gaussian"``.

    Returns:
        Scalar NLL per joint.
    """
    target, weight = _point_weights(target, frame_mask, confidence)
    error = (pred - target).detach()
    if kind == "laplace":
        nll = error.abs().sum(-1) * torch.exp(-log_scale) + 3 * log_scale
    elif kind == "gaussian":
        nll = error.square().sum(-1) * 0.5 * torch.exp(-2 * log_scale) + 3 * log_scale
    else:
        raise ValueError(f"unknown likelihood '{kind}' (laplace, gaussian)")
    return _weighted_mean(nll, weight)


@dataclass
class StudentTargets:
    """Labels aligned to the radar frames; any field may be missing.

    Attributes:
        frame_mask: [B, T] bool, frames with a label.
        rotmats: [B, T, 24, 3, 3] SMPL local rotations (root in the label frame).
        betas: [B, K] or [B, T, K].
        transl: [B, T, 3] metres.
        joints: [B, T, J, 3] joint positions (J = 24 or 29), metres; computed
            by FK from the SMPL fields when None.
        joint_confidence: [B, T, J] teacher per-joint confidence in [0, 1].
        contacts: [B, T, 4] 0/1 foot contacts (``CONTACT_NAMES`` order).
        keypoints: skeleton name -> [B, T, J, 3] metres (NaN = untracked).
        keypoint_confidence: skeleton name -> [B, T, J].
    """

    frame_mask: torch.Tensor
    rotmats: torch.Tensor | None = None
    betas: torch.Tensor | None = None
    transl: torch.Tensor | None = None
    joints: torch.Tensor | None = None
    joint_confidence: torch.Tensor | None = None
    contacts: torch.Tensor | None = None
    keypoints: dict[str, torch.Tensor] = field(default_factory=dict)
    keypoint_confidence: dict[str, torch.Tensor] = field(default_factory=dict)


def student_loss(out: StudentOutput, targets: StudentTargets, body_model: BodyModel,
                 weights: Mapping[str, float] | None = None, likelihood: str = "laplace"
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted sum of every loss whose labels are present.

    Args:
        out: the student's predictions.
        targets: labels; terms without labels are skipped.
        body_model: body model for FK.
        weights: term name -> weight (missing names use DEFAULT_WEIGHTS; 0
            disables a term).
        likelihood: ``"laplace"`` or ``"gaussian"`` for the uncertainty term.

    Returns:
        The total (scalar) and each unweighted term, detached.
    """
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    mask = targets.frame_mask & out.frame_mask
    terms: dict[str, torch.Tensor] = {}
    target_joints = targets.joints
    if target_joints is None and all(x is not None for x in (targets.rotmats, targets.betas, targets.transl)):
        betas = targets.betas if targets.betas.ndim == 3 else targets.betas[:, None].expand(*mask.shape, -1)
        with torch.no_grad():
            target_joints = smpl_joints(body_model, targets.rotmats, betas, targets.transl)
    if target_joints is not None:
        pred_joints = smpl_joints(body_model, out.rotmats, out.betas, out.transl)  # [B, T, 29, 3]
        j = target_joints.shape[2]
        confidence = targets.joint_confidence
        terms["joints"] = joint_position_loss(pred_joints[:, :, :j], target_joints, mask, confidence)
        terms["pose"] = joint_position_loss(pred_joints[:, :, :j] - pred_joints[:, :, :1],
                                            target_joints - target_joints[:, :, :1], mask, confidence)
        if targets.rotmats is not None:
            terms["body_pose"] = joint_position_loss(
                body_frame(pred_joints[:, :, :j], out.rotmats[:, :, 0]),
                body_frame(target_joints, targets.rotmats[:, :, 0]), mask, confidence)
        terms["smoothness"] = smoothness_loss(pred_joints[:, :, :j], mask, target_joints)
        smpl_confidence = None if confidence is None else confidence[:, :, :NUM_SMPL_JOINTS]
        terms["uncertainty"] = joint_nll(pred_joints[:, :, :NUM_SMPL_JOINTS], target_joints[:, :, :NUM_SMPL_JOINTS],
                                         out.joint_log_scale, mask, smpl_confidence, likelihood)
    if targets.rotmats is not None:
        terms["rotations"] = rotation_loss(out.rotmats, targets.rotmats, mask)
    if targets.betas is not None:
        terms["betas"] = betas_loss(out.betas, targets.betas, mask)
    if targets.transl is not None:
        terms["transl"] = translation_loss(out.transl, targets.transl, mask)
    if targets.contacts is not None:
        terms["contacts"] = contact_loss(out.contact_logits, targets.contacts, mask)
    unknown = sorted(set(targets.keypoints) - set(out.keypoints))
    if unknown:
        raise ValueError(f"keypoint labels for {unknown} but the model has heads for {sorted(out.keypoints)}")
    keypoint_terms = [
        joint_position_loss(out.keypoints[name], kp, mask, targets.keypoint_confidence.get(name))
        for name, kp in targets.keypoints.items()
    ]
    if keypoint_terms:
        terms["keypoints"] = torch.stack(keypoint_terms).mean()
    total = sum(w[name] * value for name, value in terms.items() if w[name] != 0)
    if not isinstance(total, torch.Tensor):
        raise ValueError("no loss term has labels (or every weight is 0)")
    return total, {name: value.detach() for name, value in terms.items()}
