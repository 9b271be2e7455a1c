"""Training data of the student: radar windows + labels from session files.

* :func:`load_session` reads one session into memory: the radar points padded
  per frame (:func:`~wavecap.student.encoders.pad_points`), the labels on the
  radar frames and in the radar's coordinate frame (a teacher run via
  :func:`~wavecap.student.labels.read_label_run`, or the ground truth when
  asked), foot contacts derived from the labels'
  foot height and speed (:func:`~wavecap.student.targets.label_contacts`);
  or, for keypoint-only datasets, a keypoint stream on the radar frames
  (:func:`~wavecap.student.keypoints.read_keypoint_labels`), which trains the
  keypoint head alone (no SMPL targets, no contacts).
* Splits never draw frames at random (neighbouring radar frames are nearly
  the same sample; ``radar_data.md`` 4): :func:`split_sessions` holds out
  whole sessions, :func:`time_block_split` holds out long time blocks with
  an unused gap on both sides.
* :class:`WindowDataset` cuts fixed-length windows from the allowed frame
  ranges and collates them to ``(RadarFrames, StudentTargets)``, with the
  radar augmentations of :class:`Augmentation` drawn from a caller-given
  generator (so a batch is a pure function of its seed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from wavecap.body import BodyModel
from wavecap.datasets import open_session
from wavecap.errors import DataError
from wavecap.geometry import axis_angle_to_matrix
from wavecap.skeletons import Skeleton, get_skeleton
from wavecap.student.encoders import RadarFrames, pad_points, select_columns
from wavecap.student.heads import CONTACT_NAMES
from wavecap.student.keypoints import KeypointLabels, read_keypoint_labels
from wavecap.student.labels import LabelSequence, ground_truth_as_labels, read_label_run, transform_labels
from wavecap.student.losses import StudentTargets
from wavecap.student.targets import label_contacts

log = logging.getLogger(__name__)
Range = tuple[int, int]
TARGETS = ("labels", "ground_truth", "keypoints")


@dataclass
class SessionData:
    """One session's radar frames and labels, in memory.

    Attributes:
        path: the session file.
        points: [T, N, C] float32 padded points (columns as the encoder's;
            positions m, radar frame).
        point_mask: [T, N] bool.
        timestamps: [T] s.
        labels: SMPL labels on the radar frames, or None (keypoint targets).
        contacts: [T, 4] float32 0/1 (``CONTACT_NAMES`` order), or None
            without SMPL labels.
        rest_pelvis: [T, 3] rest pelvis J0 of each frame's betas (m), for
            moving ``transl`` under rotation augmentation; None without SMPL labels.
        T_world_from_radar: [4, 4].
        fps: radar frame rate (Hz), from the timestamps.
        columns: the point column names.
        keypoints: keypoint labels on the radar frames (radar frame), or None.
    """

    path: str
    points: np.ndarray
    point_mask: np.ndarray
    timestamps: np.ndarray
    labels: LabelSequence | None
    contacts: np.ndarray | None
    rest_pelvis: np.ndarray | None
    T_world_from_radar: np.ndarray
    fps: float
    columns: tuple[str, ...]
    keypoints: KeypointLabels | None = None

    def __len__(self) -> int:
        return len(self.timestamps)

    @property
    def label_frame(self) -> str:
        """Frame of the targets: the SMPL labels' (``radar`` or ``world``); keypoint labels are radar-frame."""
        return self.labels.frame if self.labels is not None else self.keypoints.frame

    @property
    def label_valid(self) -> np.ndarray:
        """[T] bool, radar frames with a target."""
        return self.labels.valid if self.labels is not None else self.keypoints.valid


def read_radar(session, columns: Sequence[str], max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Padded radar points of a whole session.

    Args:
        session: an open :class:`~wavecap.datasets.Session`.
        columns: point columns to keep, in the encoder's order.
        max_points: N.

    Returns:
        points [T, N, C] float32 and point_mask [T, N] bool.
    """
    radar = session.radar
    frames = [f.data for f in radar.frames()]
    flat = np.concatenate(frames) if frames else np.zeros((0, len(radar.columns)), np.float32)
    flat = select_columns(torch.from_numpy(flat), radar.columns, columns)
    points, mask = pad_points(flat, torch.from_numpy(np.array(radar.offsets)), max_points)
    return points.numpy(), mask.numpy()


def load_session(path: str, body_model: BodyModel, columns: Sequence[str], max_points: int,
                 targets: str = "labels", label_run: str = "teacher", keypoint_stream: str | None = None,
                 keypoint_max_gap_s: float = 0.25) -> SessionData:
    """Read a session's radar points and its training targets.

    Args:
        path: session file.
        body_model: body model of the labels.
        columns: point columns of the encoder.
        max_points: points kept per frame.
        targets: ``"labels"`` (teacher label run ``label_run``, the default
            for distillation), ``"ground_truth"`` (only when asked for) or
            ``"keypoints"`` (a ``/keypoints`` stream alone, radar frame).
        label_run: the run under ``/labels``.
        keypoint_stream: ``/keypoints/<stream>`` for ``targets="keypoints"``;
            None = the session's only stream.
        keypoint_max_gap_s: radar frames between keypoint samples further
            apart than this (s) are unlabelled.

    Raises:
        DataError: the session lacks the requested targets.
    """
    if targets not in TARGETS:
        raise ValueError(f"targets must be one of {TARGETS}, got {targets!r}")
    labels, keypoints = None, None
    with open_session(path) as session:
        points, mask = read_radar(session, columns, max_points)
        timestamps = np.array(session.radar.timestamps)
        T = np.array(session.radar.T_world_from_radar)
        if targets == "ground_truth":
            labels = ground_truth_as_labels(session, body_model, frame="radar")
        elif targets == "keypoints":
            keypoints = read_keypoint_labels(session, keypoint_stream, keypoint_max_gap_s)
        else:
            if label_run not in session.label_runs:
                raise DataError(f"no label run {label_run!r} (runs: {session.label_runs})", file=path,
                                group="/labels")
            labels = read_label_run(session, label_run)
    if len(timestamps) < 2:
        raise DataError("need at least 2 radar frames", file=path, group="/radar", field="timestamps")
    fps = float(1.0 / np.median(np.diff(timestamps)))
    if labels is None:
        return SessionData(path, points, mask, timestamps, None, None, None, T, fps, tuple(columns), keypoints)
    world = transform_labels(labels, T, "world", body_model) if labels.frame == "radar" else labels
    # The student learns in the radar frame whatever frame the labels were stored in: its positions are offsets
    # from the radar points' anchor, and rotation augmentation needs points and labels in one frame.
    labels = transform_labels(labels, np.linalg.inv(T), "radar", body_model)
    contacts = np.zeros((len(timestamps), 4), np.float32)
    ok = labels.valid
    if ok.sum() >= 2:
        contacts[ok] = label_contacts(body_model, fps, world.global_orient[ok], world.body_pose[ok],
                                      world.betas[ok], world.transl[ok])
    with torch.no_grad():
        rest_pelvis = body_model.rest_joints(torch.from_numpy(labels.betas))[:, 0].numpy()
    return SessionData(path, points, mask, timestamps, labels, contacts, rest_pelvis, T, fps, tuple(columns))


def split_sessions(paths: Sequence[str], val_fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """Hold out whole sessions for validation.

    Args:
        paths: session files (sorted first, so the split does not depend on order).
        val_fraction: share of sessions held out (at least one when > 0 and
            there are two or more sessions).
        seed: seed of the shuffle.

    Returns:
        train paths, validation paths (disjoint).
    """
    ordered = sorted(paths)
    n_val = min(len(ordered) - 1, max(1, round(val_fraction * len(ordered)))) if val_fraction > 0 else 0
    order = np.random.default_rng(seed).permutation(len(ordered))
    val = sorted(ordered[i] for i in order[:n_val])
    return [p for p in ordered if p not in val], val


def time_block_split(num_frames: int, block_frames: int, gap_frames: int, val_every: int = 5
                     ) -> tuple[list[Range], list[Range]]:
    """Split one long session into time blocks: every ``val_every``-th block validates.

    ``gap_frames`` frames on both sides of each validation block belong to
    neither split, so no training window touches frames next to validation
    frames.

    Args:
        num_frames: T.
        block_frames: frames per block.
        gap_frames: frames left unused on each side of a validation block.
        val_every: block k is for validation when ``k % val_every == val_every - 1``.

    Returns:
        train ranges and validation ranges ``[start, stop)``.
    """
    if block_frames < 1 or gap_frames < 0 or val_every < 2:
        raise ValueError("need block_frames >= 1, gap_frames >= 0, val_every >= 2")
    val = [(s, min(s + block_frames, num_frames)) for s in range(0, num_frames, block_frames)
           if (s // block_frames) % val_every == val_every - 1]
    train, start = [], 0
    for vs, ve in val:
        if vs - gap_frames > start:
            train.append((start, vs - gap_frames))
        start = ve + gap_frames
    if start < num_frames:
        train.append((start, num_frames))
    return train, val


def window_ranges(ranges: Sequence[Range], window: int, stride: int) -> list[Range]:
    """Windows ``[start, stop)`` of at most ``window`` frames tiling each range with ``stride``.

    The last window of a range ends at the range's end; a range shorter than
    ``window`` gives one short window (padded when batched).
    """
    out = []
    for start, stop in ranges:
        if stop - start <= window:
            out.append((start, stop))
            continue
        starts = list(range(start, stop - window + 1, stride))
        if starts[-1] != stop - window:
            starts.append(stop - window)
        out += [(s, s + window) for s in starts]
    return out


@dataclass(frozen=True)
class Augmentation:
    """Radar augmentations applied to training windows.

    Attributes:
        point_dropout: probability of dropping each point.
        jitter_m: std of Gaussian noise on x, y, z (m).
        frame_drop: probability that a frame loses all its points (a real
            frame with no detections, not padding).
        doppler_noise_mps: std of Gaussian noise on the ``doppler`` column (m/s).
        rotation_deg: rotation about the vertical axis through the radar,
            uniform in [-rotation_deg, rotation_deg], applied to points and
            labels together; only when the labels are in the radar frame
            (otherwise off: a world-frame label does not turn with the points).
            Range and radial velocity are unchanged by it.
        mirror: probability of reflecting the window left-right through the
            vertical plane that holds the radar's boresight, points and
            labels together (left and right joints and contacts swap); same
            condition as ``rotation_deg``. Range and radial velocity are
            unchanged by it; the subject's shape (betas) is kept, as SMPL's
            shape space is close to symmetric.
        view_rotation_deg: rotation about the vertical through the body (the
            window's mean labelled pelvis), uniform in [-view_rotation_deg,
            view_rotation_deg], applied to points and labels together (same
            condition as ``rotation_deg``). Unlike ``rotation_deg`` it turns
            the body relative to the radar, so the radar sees it from another
            side: approximate, as the Doppler column (radial velocity) and
            which surfaces face the radar are kept. Why: a student learns a
            body only from the headings its captures show, and a handful of
            captures leaves gaps between them.
    """

    point_dropout: float = 0.1
    jitter_m: float = 0.01
    frame_drop: float = 0.05
    doppler_noise_mps: float = 0.05
    rotation_deg: float = 30.0
    mirror: float = 0.0
    view_rotation_deg: float = 0.0


def vertical_rotation(T_world_from_radar: np.ndarray, angle: float) -> np.ndarray:
    """[3, 3] rotation by ``angle`` (rad) about world up, expressed in the radar frame."""
    axis = np.asarray(T_world_from_radar)[:3, :3].T @ np.array([0.0, 0.0, 1.0])
    return axis_angle_to_matrix(torch.from_numpy(axis * angle)).numpy()


def vertical_mirror(T_world_from_radar: np.ndarray) -> np.ndarray:
    """[3, 3] reflection through the vertical plane holding the radar's boresight, in the radar frame.

    The plane passes through the radar, so ranges and radial velocities are
    unchanged; its normal is the radar's x axis made horizontal (the x axis
    itself for a radar mounted without roll).
    """
    up = np.asarray(T_world_from_radar)[:3, :3].T @ np.array([0.0, 0.0, 1.0])  # [3] radar frame
    normal = np.array([1.0, 0.0, 0.0]) - up[0] * up
    normal /= np.linalg.norm(normal)
    return np.eye(3) - 2.0 * np.outer(normal, normal)


# SMPL's canonical frame has x pointing to the body's left, so the body's own mirror is x -> -x.
_BODY_MIRROR = np.diag([-1.0, 1.0, 1.0])
_FLIP_29 = get_skeleton("hybrik29").flip_permutation()
_FLIP_CONTACTS = Skeleton("contacts", CONTACT_NAMES, (-1,) * len(CONTACT_NAMES)).flip_permutation()


def mirror_smpl(rotmats: np.ndarray, transl: np.ndarray, rest_pelvis: np.ndarray, H: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """SMPL rotations and translation of a body's mirror image.

    Args:
        rotmats: [T, 24, 3, 3] global orient then the 23 local rotations.
        transl: [T, 3] m.
        rest_pelvis: [T, 3] rest pelvis J0 (m); the mirror keeps the shape.
        H: [3, 3] reflection (the frame of ``rotmats[:, 0]`` and ``transl``).

    Returns:
        rotmats [T, 24, 3, 3] (left and right joints swapped, each local
        rotation conjugated by the body's mirror; the root by ``H`` on the
        left and the body's mirror on the right, so it stays a rotation) and
        transl [T, 3].
    """
    out = rotmats[:, _FLIP_29[:24]]
    out = _BODY_MIRROR @ out @ _BODY_MIRROR
    out[:, 0] = H @ rotmats[:, 0] @ _BODY_MIRROR
    return out.astype(rotmats.dtype), ((transl + rest_pelvis) @ H.T - rest_pelvis).astype(transl.dtype)


class WindowDataset:
    """Fixed-length windows of radar frames with targets.

    Args:
        sessions: loaded sessions.
        ranges: per session, the frame ranges this split may use.
        window: frames per window T.
        stride: step between window starts.
        augmentation: applied by :meth:`item` when given a generator; None = never.
    """

    def __init__(self, sessions: Sequence[SessionData], ranges: Sequence[Sequence[Range]], window: int,
                 stride: int, augmentation: Augmentation | None = None) -> None:
        if len(sessions) != len(ranges):
            raise ValueError("one list of ranges per session")
        self.sessions = list(sessions)
        self.window = window
        self.augmentation = augmentation
        self.windows = [(k, s, e) for k, r in enumerate(ranges) for s, e in window_ranges(r, window, stride)]
        kinds = {("smpl" if s.labels is not None else f"keypoints:{s.keypoints.skeleton}") for s in self.sessions}
        if len(kinds) > 1:
            raise ValueError(f"sessions of one split need the same kind of targets, got {sorted(kinds)}")
        radar_frame = all(s.label_frame == "radar" for s in self.sessions)
        self.rotate = augmentation is not None and augmentation.rotation_deg > 0 and radar_frame
        self.mirror = augmentation is not None and augmentation.mirror > 0 and radar_frame
        self.view_rotate = (augmentation is not None and augmentation.view_rotation_deg > 0 and radar_frame
                            and all(s.labels is not None for s in self.sessions))
        if augmentation is not None and not radar_frame and (
                augmentation.rotation_deg > 0 or augmentation.mirror > 0 or augmentation.view_rotation_deg > 0):
            log.info("rotation and mirror augmentations disabled: labels are not in the radar frame")

    def __len__(self) -> int:
        return len(self.windows)

    def training_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Points [M, N, C] and mask [M, N] of every frame in this split (normaliser fitting)."""
        frames = [(self.sessions[k].points[s:e], self.sessions[k].point_mask[s:e]) for k, s, e in self.windows]
        return np.concatenate([f[0] for f in frames]), np.concatenate([f[1] for f in frames])

    @property
    def keypoint_skeleton(self) -> str | None:
        """Skeleton of the keypoint targets, or None when the targets are SMPL labels."""
        first = self.sessions[0] if self.sessions else None
        return None if first is None or first.keypoints is None else first.keypoints.skeleton

    def item(self, index: int, generator: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """One window as arrays (``window`` frames, right-padded).

        Args:
            index: window index.
            generator: draws the augmentation; None = no augmentation.

        Returns:
            ``points`` [T, N, C], ``point_mask`` [T, N], ``frame_mask`` [T]
            (real frames), ``label_mask`` [T]; with SMPL labels ``rotmats``
            [T, 24, 3, 3], ``betas`` [T, 10], ``transl`` [T, 3], ``joints``
            [T, 29, 3], ``joint_confidence`` [T, 29], ``contacts`` [T, 4];
            with keypoint labels ``keypoints`` [T, J, 3] (NaN = untracked) and
            ``keypoint_confidence`` [T, J].
        """
        k, s, e = self.windows[index]
        data, n = self.sessions[k], e - s
        out = {
            "points": data.points[s:e].copy(), "point_mask": data.point_mask[s:e].copy(),
            "frame_mask": np.ones(n, bool), "label_mask": data.label_valid[s:e].copy(),
        }
        if data.labels is not None:
            lab = data.labels
            aa = np.concatenate([lab.global_orient[s:e], lab.body_pose[s:e]], 1).reshape(n, 24, 3)
            out.update({
                "rotmats": axis_angle_to_matrix(torch.from_numpy(aa)).numpy(), "betas": lab.betas[s:e].copy(),
                "transl": lab.transl[s:e].copy(), "joints": lab.joints29[s:e].copy(),
                "joint_confidence": (lab.joint_confidence[s:e] * lab.confidence[s:e, None]).astype(np.float32),
                "contacts": data.contacts[s:e].copy(),
            })
        if data.keypoints is not None:
            out["keypoints"] = data.keypoints.positions[s:e].copy()
            out["keypoint_confidence"] = data.keypoints.confidence[s:e].copy()
        if generator is not None and self.augmentation is not None:
            self._augment(out, data, s, e, generator)
        pad = self.window - n
        if pad:
            out = {name: np.concatenate([v, np.zeros((pad, *v.shape[1:]), v.dtype)]) for name, v in out.items()}
            if "rotmats" in out:
                out["rotmats"][n:] = np.eye(3, dtype=out["rotmats"].dtype)
        return out

    def _augment(self, out: dict[str, np.ndarray], data: SessionData, s: int, e: int,
                 rng: np.random.Generator) -> None:
        aug, mask, points = self.augmentation, out["point_mask"], out["points"]
        mask &= rng.random(mask.shape) >= aug.point_dropout
        mask &= (rng.random(mask.shape[0]) >= aug.frame_drop)[:, None]
        points[..., :3] += rng.normal(0.0, aug.jitter_m, points[..., :3].shape).astype(np.float32)
        if "doppler" in data.columns:
            c = data.columns.index("doppler")
            points[..., c] += rng.normal(0.0, aug.doppler_noise_mps, points.shape[:-1]).astype(np.float32)
        angle = np.radians(rng.uniform(-aug.rotation_deg, aug.rotation_deg))
        if self.mirror and rng.random() < aug.mirror:
            self._mirror(out, data, s, e)
        if self.view_rotate:
            valid = data.labels.valid[s:e]
            view = np.radians(rng.uniform(-aug.view_rotation_deg, aug.view_rotation_deg))
            if valid.any():  # about the window's mean pelvis
                self._turn(out, data, s, e, view, out["joints"][valid, 0].mean(0))
        if self.rotate:  # about the radar
            self._turn(out, data, s, e, angle, np.zeros(3, np.float32))
        points[~mask] = 0.0

    def _turn(self, out: dict[str, np.ndarray], data: SessionData, s: int, e: int, angle: float,
              centre: np.ndarray) -> None:
        """Turn points and labels by ``angle`` (rad) about the world vertical through ``centre`` [3] (radar frame)."""
        R = vertical_rotation(data.T_world_from_radar, angle).astype(np.float32)  # [3, 3] radar frame
        out["points"][..., :3] = (out["points"][..., :3] - centre) @ R.T + centre
        if data.labels is not None:
            j0 = data.rest_pelvis[s:e]  # [T, 3]
            out["rotmats"][:, 0] = R @ out["rotmats"][:, 0]
            out["transl"] = (out["transl"] + j0 - centre) @ R.T + centre - j0
            out["joints"] = (out["joints"] - centre) @ R.T + centre
        if "keypoints" in out:
            out["keypoints"] = (out["keypoints"] - centre) @ R.T + centre  # [T, J, 3]; NaN (untracked) stays NaN

    def _mirror(self, out: dict[str, np.ndarray], data: SessionData, s: int, e: int) -> None:
        H = vertical_mirror(data.T_world_from_radar)  # [3, 3] radar frame
        out["points"][..., :3] = out["points"][..., :3] @ H.T.astype(np.float32)
        if data.labels is not None:
            out["rotmats"], out["transl"] = mirror_smpl(out["rotmats"], out["transl"], data.rest_pelvis[s:e], H)
            out["joints"] = (out["joints"][:, _FLIP_29] @ H.T).astype(np.float32)
            out["joint_confidence"] = out["joint_confidence"][:, _FLIP_29]
            out["contacts"] = out["contacts"][:, _FLIP_CONTACTS]
        if "keypoints" in out:
            flip = get_skeleton(self.keypoint_skeleton).flip_permutation()
            out["keypoints"] = (out["keypoints"][:, flip] @ H.T).astype(np.float32)
            out["keypoint_confidence"] = out["keypoint_confidence"][:, flip]

    def batch(self, indices: Sequence[int], generators: Sequence[np.random.Generator | None] | None = None
              ) -> tuple[RadarFrames, StudentTargets]:
        """Collate windows into model input and targets.

        Args:
            indices: window indices, one per batch row.
            generators: one augmentation generator per row (None = no augmentation).
        """
        generators = generators or [None] * len(indices)
        items = [self.item(i, g) for i, g in zip(indices, generators)]
        t = {name: torch.from_numpy(np.stack([it[name] for it in items])) for name in items[0]}
        frames = RadarFrames(frame_mask=t["frame_mask"], points=t["points"].float(), point_mask=t["point_mask"])
        smpl = {name: t[name].float() for name in ("rotmats", "betas", "transl", "joints", "joint_confidence",
                                                    "contacts") if name in t}
        targets = StudentTargets(frame_mask=t["frame_mask"] & t["label_mask"], **smpl)
        if "keypoints" in t:
            skeleton = self.keypoint_skeleton
            targets.keypoints = {skeleton: t["keypoints"].float()}
            targets.keypoint_confidence = {skeleton: t["keypoint_confidence"].float()}
        return frames, targets
