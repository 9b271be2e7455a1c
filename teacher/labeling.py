"""Label recorded sessions with the RGB teacher (or a stored keypoint stream).

For each session, run name ``<run>`` (see ``configs/label_with_teacher.yaml``):

1. camera stage — chunks of camera frames are decoded by DataLoader workers
   (one open session per worker), cropped around the person box, passed
   through the network and the analytic IK; SMPL parameters and joints in
   the camera frame go to ``/labels/<run>_camera`` (timebase ``/camera``),
   chunk by chunk. With smoothing on, this stage writes
   ``<run>_camera_raw`` and a smoothing stage writes ``<run>_camera``.
2. radar stage — the stored camera-time labels are moved into the radar
   frame (``T_radar_from_world @ T_world_from_camera``) and resampled onto
   the radar timestamps into ``/labels/<run>`` (timebase ``/radar``).

Every stage writes through :class:`~wavecap.datasets.LabelWriter` and later
stages read only what earlier stages stored, so a run killed at any point and
restarted with the same arguments finishes with identical labels. HDF5 locks
a file written in append mode against readers, so decoding workers exist only
while a chunk is read, and the writer is opened only to store it.

Person boxes (``boxes.source``): ``session`` reads ``/camera/boxes`` [T, 4]
(a NaN box means no person in the frame: it is cropped at the previous
person box and its labels are flagged invalid, with ``boxes.first=session``
too); ``fixed`` uses ``boxes.region`` (null: the whole image); ``track`` crops each
batch around the previous frame's projected joints, starting from
``boxes.first`` (``fixed``, ``session`` or, for synthetic sessions only and
recorded in the provenance, ``gt``: the projected ground truth), refined by
``boxes.refine`` passes on the first image; an implausible tracked box (lost
person) falls back to that source. Tracking is per batch: every frame of a
batch uses the box from the last frame of the previous batch, so
``boxes.margin`` must cover a batch's worth of motion.
"""

from __future__ import annotations

import glob
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

import wavecap
from wavecap.body import BodyModel
from wavecap.datasets import LabelWriter, open_session
from wavecap.errors import DataError
from wavecap.geometry import project_points, resample_linear
from wavecap.teacher.boxes import box_from_joints, fixed_boxes
from wavecap.teacher.crop import prepare_inputs
from wavecap.teacher.label_frames import LABEL_FIELDS, LabelTrack, change_frame, resample_track, smooth_track
from wavecap.teacher.network import HybrIKNet, uvd_to_camera
from wavecap.teacher.pose import pose_from_output

# Configuration keys that do not change the labels (left out of the provenance,
# so e.g. a resumed run may use other workers or another shard layout).
VOLATILE_KEYS = ("session", "num_workers", "progress", "restart", "rank", "world_size", "threads")


@dataclass(frozen=True)
class SessionInfo:
    """What labeling needs from a session besides its images.

    Attributes:
        path: session file.
        camera_times: [Tc] s. radar_times: [Tr] s.
        K: [3, 3] camera intrinsics (px).
        T_world_from_camera, T_world_from_radar: [4, 4] extrinsics.
        width, height: image size (px).
    """

    path: str
    camera_times: np.ndarray
    radar_times: np.ndarray
    K: np.ndarray
    T_world_from_camera: np.ndarray
    T_world_from_radar: np.ndarray
    width: int
    height: int


def read_session_info(path: str) -> SessionInfo:
    """Timestamps, intrinsics and extrinsics of a session with a camera.

    Raises:
        DataError: the session has no ``/camera``.
    """
    with open_session(path) as s:
        cam = s.camera
        if cam is None:
            raise DataError("session has no camera to label", file=path, group="/camera")
        return SessionInfo(
            path=path, camera_times=cam.timestamps.copy(), radar_times=s.radar.timestamps.copy(),
            K=cam.intrinsics, T_world_from_camera=cam.T_world_from_camera,
            T_world_from_radar=s.radar.T_world_from_radar, width=cam.width, height=cam.height,
        )


class CameraFrames(Dataset):
    """Camera frames ``indices`` of a session as [3, H, W] uint8 tensors.

    The session is opened lazily in the process that reads (one per
    DataLoader worker: HDF5 handles do not survive a fork) and closed with
    :meth:`close` or when the worker exits.
    """

    def __init__(self, path: str, indices: Sequence[int]) -> None:
        self.path, self.indices = path, list(indices)
        self._session: Any = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor]:
        if self._session is None:
            self._session = open_session(self.path, validate=False)
        index = self.indices[i]
        image = self._session.camera.frame(index)  # [H, W, 3] uint8
        return index, torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))

    def close(self) -> None:
        """Close the session if this process opened it."""
        if self._session is not None:
            self._session.close()
            self._session = None


def decode_batches(path: str, indices: Sequence[int], batch_size: int, num_workers: int) -> Any:
    """Yield (indices [B], images [B, 3, H, W] uint8) of consecutive frames.

    Workers are started for this call only and exit when it is exhausted,
    which releases their read handles on the file.
    """
    frames = CameraFrames(path, indices)
    loader = DataLoader(frames, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        persistent_workers=False)
    try:
        yield from loader
    finally:
        frames.close()


class RGBTeacher:
    """Network + IK on batches of images, giving camera-frame label tracks.

    Args:
        net: the trained network (eval mode is set here; BN may be folded).
        body_model: body model of the IK's rest skeleton and of the labels.
        scale_mult: HybrIK's square-box enlargement.
        ik_variant, ik_root: see :func:`wavecap.teacher.ik.solve_ik`.
    """

    def __init__(self, net: HybrIKNet, body_model: BodyModel, scale_mult: float = 1.25,
                 ik_variant: str = "adaptive", ik_root: str | None = None) -> None:
        self.net, self.body_model = net.eval(), body_model
        self.scale_mult, self.ik_variant, self.ik_root = float(scale_mult), ik_variant, ik_root

    @torch.inference_mode()
    def predict(self, images: torch.Tensor, boxes: torch.Tensor, K: torch.Tensor) -> LabelTrack:
        """Labels of B frames in the camera frame.

        The root depth and the back-projection use the session's intrinsics:
        the crop's focal length is ``fx * S / box_side`` and the principal
        point (cx, cy), so depth follows the real camera, not HybrIK's
        assumed one.

        Args:
            images: [B, 3, H, W] uint8 RGB.
            boxes: [B, 4] person boxes (x1, y1, x2, y2), image pixels.
            K: [3, 3] intrinsics (px).
        """
        net = self.net
        inputs, square = prepare_inputs(images, boxes, net.input_size, self.scale_mult)
        out = net(inputs)
        xyz, cam_root = decode_with_intrinsics(out.uvd, out.cam, square, K.float(), net)
        out = replace(out, xyz29=xyz, cam_root=cam_root)
        pose = pose_from_output(out, self.body_model, self.ik_variant, self.ik_root)
        joints = self.body_model(pose.rotmats[:, 0], pose.rotmats[:, 1:], pose.betas, pose.transl,
                                 return_vertices=False).joints29
        scores = out.scores.clamp(0, 1)
        finite = torch.isfinite(joints).flatten(1).all(dim=1) & torch.isfinite(pose.transl).all(dim=1)
        valid = ~pose.flags & finite
        return LabelTrack(rotmats=pose.rotmats, betas=pose.betas, transl=pose.transl, joints29=joints,
                          joint_confidence=scores, confidence=scores.mean(dim=1) * valid, valid=valid)


def decode_with_intrinsics(
    uvd: torch.Tensor, cam: torch.Tensor, square: torch.Tensor, K: torch.Tensor, net: HybrIKNet
) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-frame joints from the network's uvd and scale with a real camera.

    :func:`~wavecap.teacher.network.uvd_to_camera` with the per-crop focal
    length ``fx * S / side`` and the principal point of ``K``: a joint's
    pixel is ``centre + u * side`` and the root depth ``fx / (side * scale)``.

    Args:
        uvd: [B, 29, 3]; cam: [B, 3]; square: [B, 4] square crop boxes (px);
        K: [3, 3] intrinsics; net: for input size and depth factor.

    Returns:
        xyz [B, 29, 3] root-relative and cam_root [B, 3], metres, OpenCV camera frame.
    """
    side = (square[:, 2] - square[:, 0])[:, None, None]  # [B, 1, 1]
    focal = K[0, 0] * net.input_size / side
    centre = K[:2, 2].expand(uvd.shape[0], 2)
    return uvd_to_camera(uvd, cam, net.input_size, focal, net.depth_factor, square, centre)


def code_version() -> str:
    """wavecap's version and ``git describe`` of the source tree when available."""
    root = Path(wavecap.__file__).resolve().parent.parent
    try:
        described = subprocess.run(["git", "describe", "--always", "--tags"], cwd=root, capture_output=True,
                                   text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    return f"wavecap {wavecap.__version__}" + (f" ({described})" if described else "")


def provenance_config(cfg: DictConfig | Mapping[str, Any]) -> str:
    """The resolved YAML of the settings that determine the labels."""
    container = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    return OmegaConf.to_yaml({k: v for k, v in container.items() if k not in VOLATILE_KEYS and k != "hydra"})


def _existing_metadata(path: str, run: str) -> dict[str, object] | None:
    """Metadata of an existing, fully created run (None if there is none)."""
    with open_session(path) as s:
        if run not in s.label_runs:
            return None
        try:
            return s.labels(run).metadata
        except DataError:  # interrupted while being created: LabelWriter recreates it
            return None


def run_metadata(path: str, run: str, base: Mapping[str, object], frame: str) -> dict[str, object]:
    """Provenance attributes of a run; a resumed run keeps the code version it started with."""
    meta = {**base, "frame": frame}
    existing = _existing_metadata(path, run)
    if existing is not None and "code_version" in existing:
        # Resuming after a crash under a newer commit is still the same run.
        meta["code_version"] = existing["code_version"]
    return meta


def read_track(path: str, run: str, start: int = 0, stop: int | None = None) -> LabelTrack:
    """Stored label fields of ``run`` (done chunks only) as a track."""
    with open_session(path) as s:
        labels = s.labels(run)
        stop = labels.length if stop is None else stop
        return LabelTrack.from_fields({name: labels.read(name, start, stop) for name in LABEL_FIELDS})


def write_track(path: str, run: str, track_fn: Callable[[], LabelTrack], timebase: str, chunk_size: int,
                metadata: Mapping[str, object], restart: bool) -> None:
    """Write a track computed from stored data into ``run``, resuming if it exists.

    ``track_fn`` is only called when chunks are left.
    """
    with LabelWriter(path, run, fields=LABEL_FIELDS, chunk_size=chunk_size, timebase=timebase,
                     metadata=metadata, restart=restart) as writer:
        remaining = writer.remaining()
        if not remaining:
            return
        fields = track_fn().to_fields()
        for start, stop in remaining:
            writer.write(start, stop, {k: v[start:stop] for k, v in fields.items()})


def run_complete(path: str, run: str) -> bool:
    """True if ``/labels/<run>`` exists and is complete."""
    with open_session(path) as s:
        if run not in s.label_runs:
            return False
        try:
            return bool(s.labels(run).complete)
        except DataError:
            return False


def _session_boxes(path: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Person boxes stored with the recording (``/camera/boxes``), read through the session reader.

    A frame without a person (a NaN row) takes the person box of the nearest
    earlier frame that has one (of the first such frame at the start), so
    that every frame can still be cropped; the caller flags its labels invalid.

    Returns:
        boxes [Tc, 4] float32 (x1, y1, x2, y2) image pixels, and person [Tc]
        bool: whether the session saw a person in the frame.

    Raises:
        DataError: the session stores no boxes, or no frame has a person box.
    """
    with open_session(path) as s:
        stored = None if s.camera is None else s.camera.boxes()
    if stored is None:
        raise DataError("boxes.source=session (or boxes.first=session) but the session stores no person boxes",
                        file=path, group="/camera", field="boxes")
    boxes = torch.as_tensor(stored)  # [Tc, 4]
    person = ~torch.isnan(boxes).all(dim=1)  # [Tc]
    if not bool(person.any()):
        raise DataError("boxes.source=session (or boxes.first=session) but no frame of the session has a person box",
                        file=path, group="/camera", field="boxes")
    frames = torch.arange(len(boxes))
    first = int(person.nonzero()[0, 0])
    # Index of the latest frame with a person at or before each frame (the first one before it).
    held = torch.cummax(torch.where(person, frames, first), dim=0).values  # [Tc]
    return boxes[held], person


def _gt_boxes(info: SessionInfo, margin: float) -> torch.Tensor:
    """Boxes [Tc, 4] around the projected ground-truth joints (synthetic sessions)."""
    with open_session(info.path) as s:
        gt = s.ground_truth
        if gt is None or "joints" not in gt.names:
            raise DataError("boxes.first=gt needs /ground_truth/joints", file=info.path, group="/ground_truth")
        joints = torch.as_tensor(gt.field("joints"), dtype=torch.float64)
        times = torch.as_tensor(gt.timestamps, dtype=torch.float64)
    joints = resample_linear(times, joints, torch.as_tensor(info.camera_times))
    T_cw = torch.linalg.inv(torch.as_tensor(info.T_world_from_camera))
    cam = joints @ T_cw[:3, :3].T + T_cw[:3, 3]
    uv, _ = project_points(cam, torch.as_tensor(info.K))
    return box_from_joints(uv, margin).float()


class BoxSource:
    """Per-frame person boxes of one session for ``boxes.source`` (see module doc)."""

    def __init__(self, info: SessionInfo, cfg: Mapping[str, Any]) -> None:
        self.info, self.cfg = info, cfg
        self.mode = str(cfg["source"])
        if self.mode not in ("session", "fixed", "track"):
            raise DataError(f"boxes.source must be session, fixed or track, got {self.mode!r}", field="boxes.source")
        first = self.mode if self.mode != "track" else str(cfg["first"])
        n = len(info.camera_times)
        self.person = torch.ones(n, dtype=torch.bool)  # [Tc] frames a person is (believed) in
        if first == "session":
            self.base, self.person = _session_boxes(info.path)
        elif first == "fixed":
            region = cfg.get("region") or (0.0, 0.0, float(info.width - 1), float(info.height - 1))
            self.base = fixed_boxes(region, n)
        elif first == "gt":
            self.base = _gt_boxes(info, float(cfg["margin"]))
        else:
            raise DataError(f"boxes.first must be session, fixed or gt, got {first!r}", field="boxes.first")

    def start(self, index: int, previous: LabelTrack | None) -> tuple[torch.Tensor, bool]:
        """Box [4] of the first frame of a batch starting at camera frame ``index``.

        Args:
            previous: for tracking, a track whose last frame is frame
                ``index - 1`` (None at the start of the session).

        Returns:
            the box, and whether it came from the first-box source while
            tracking (session start, or the track was lost), so that the
            caller refines it.
        """
        if self.mode != "track":
            return self.base[index], False
        if previous is None:
            return self.base[index], True
        box = self.from_joints(previous.joints29[-1], previous.joint_confidence[-1])
        if box is None or not bool(previous.valid[-1]):  # lost: back to the first-box source
            return self.base[index], True
        return box, False

    def from_joints(self, joints29: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor | None:
        """Box around camera-frame joints [29, 3] projected, or None if implausible.

        Implausible: no confident joint in front of the camera, a centre
        outside the image, or a side outside [8 px, 2 x the image].
        """
        uv, depth = project_points(joints29.float()[None], torch.as_tensor(self.info.K, dtype=torch.float32))
        keep = (depth[0] > 0) & (confidence.float() > float(self.cfg["min_score"])) & torch.isfinite(uv[0]).all(-1)
        if not bool(keep.any()):
            return None
        box = box_from_joints(uv[0][keep], float(self.cfg["margin"]))
        centre, side = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]).max()
        inside = bool((centre >= 0).all()) and float(centre[0]) < self.info.width and float(centre[1]) < self.info.height
        if not inside or not 8.0 <= float(side) <= 2.0 * max(self.info.width, self.info.height):
            return None
        return box

    def refine(self, teacher: RGBTeacher, image: torch.Tensor, box: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        """Re-centre a first box on the person: ``boxes.refine`` passes of one image.

        A first box (e.g. the whole image) frames the person loosely; each
        pass crops at the previous pass's projected joints.
        """
        for _ in range(int(self.cfg["refine"])):
            track = teacher.predict(image[None], box[None], K)
            better = self.from_joints(track.joints29[0], track.joint_confidence[0])
            if better is None:
                break
            box = better
        return box

    def batch(self, indices: torch.Tensor, first_box: torch.Tensor) -> torch.Tensor:
        """Boxes [B, 4] of a batch of frames."""
        if self.mode == "track":
            return first_box.expand(len(indices), 4).clone()
        return self.base[indices]

    def flag_absent(self, indices: torch.Tensor, track: LabelTrack) -> LabelTrack:
        """``track`` of frames ``indices`` [B] with the frames the session saw no person in made invalid.

        Invalid frames carry confidence 0 and are skipped by resampling and
        smoothing, like frames the teacher itself could not label; a tracker
        whose last frame is invalid starts again from the first-box source.
        """
        person = self.person[indices]  # [B]
        return replace(track, valid=track.valid & person, confidence=track.confidence * person)


def label_camera_stage(
    info: SessionInfo, run: str, teacher: RGBTeacher, cfg: Mapping[str, Any], metadata: Mapping[str, object],
    restart: bool, progress: bool,
) -> None:
    """Camera-time labels of every camera frame into ``run`` (timebase /camera), chunk by chunk."""
    batch_size, chunk_size = int(cfg["batch_size"]), int(cfg["chunk_size"])
    if chunk_size % batch_size:
        raise DataError(f"chunk_size {chunk_size} must be a multiple of batch_size {batch_size}",
                        field="chunk_size")
    boxes = BoxSource(info, cfg["boxes"])
    K = torch.as_tensor(info.K, dtype=torch.float32)
    with LabelWriter(info.path, run, fields=LABEL_FIELDS, chunk_size=chunk_size, timebase="/camera",
                     metadata=metadata, restart=restart) as writer:
        remaining = writer.remaining()
    bar = tqdm(total=sum(b - a for a, b in remaining), desc=f"{Path(info.path).name} camera", unit="frame",
               disable=not progress)
    for start, stop in remaining:
        # Tracking resumes from the stored previous frame, in uninterrupted runs too,
        # so that a restart sees exactly what the first run saw.
        previous = read_track(info.path, run, start - 1, start) if start > 0 else None
        parts: list[LabelTrack] = []
        for indices, images in decode_batches(info.path, range(start, stop), batch_size, int(cfg["num_workers"])):
            first, refine = boxes.start(int(indices[0]), previous)
            if refine:
                first = boxes.refine(teacher, images[0], first, K)
            track = boxes.flag_absent(indices, teacher.predict(images, boxes.batch(indices, first), K))
            parts.append(track)
            previous = track
            bar.update(len(indices))
        chunk = LabelTrack(**{k: torch.cat([getattr(p, k) for p in parts]) for k in LabelTrack.__dataclass_fields__})
        with LabelWriter(info.path, run, fields=LABEL_FIELDS, chunk_size=chunk_size, timebase="/camera",
                         metadata=metadata) as writer:
            writer.write(start, stop, chunk.to_fields())
    bar.close()


def rest_root(body_model: BodyModel, betas: torch.Tensor) -> torch.Tensor:
    """[T, 3] float64 rest root joint j0 for shapes [T, 10]."""
    dtype = next(body_model.buffers()).dtype
    with torch.no_grad():
        return body_model.rest_joints(betas.to(dtype))[:, 0].double()


def radar_track(info: SessionInfo, camera_track: LabelTrack, body_model: BodyModel,
                cfg: Mapping[str, Any]) -> LabelTrack:
    """Camera-time camera-frame labels -> radar-time radar-frame labels."""
    T_radar_from_camera = torch.linalg.inv(torch.as_tensor(info.T_world_from_radar)) @ torch.as_tensor(
        info.T_world_from_camera)
    moved = change_frame(camera_track, T_radar_from_camera, rest_root(body_model, camera_track.betas))
    return resample_track(info.camera_times, moved, info.radar_times, float(cfg["gap_tolerance_s"]),
                          float(cfg["gap_decay"]))


def label_session_rgb(
    path: str, teacher: RGBTeacher, cfg: Mapping[str, Any], base_metadata: Mapping[str, object],
    restart: bool = False, progress: bool = True,
) -> dict[str, str]:
    """Label one session with the RGB teacher (all stages, resumable).

    Returns:
        {"camera": run name on the camera timebase, "radar": run name on the radar timebase}.
    """
    info = read_session_info(path)
    run = str(cfg["run"])
    sigma = float(cfg["smoothing"]["sigma_s"]) if cfg["smoothing"]["enabled"] else 0.0
    camera_run = f"{run}_camera"
    first_run = f"{run}_camera_raw" if sigma > 0 else camera_run
    meta_cam = run_metadata(path, first_run, base_metadata, "camera")
    if restart or not run_complete(path, first_run):
        label_camera_stage(info, first_run, teacher, cfg, meta_cam, restart, progress)
    if sigma > 0:
        write_track(path, camera_run,
                    lambda: smooth_track(info.camera_times, read_track(path, first_run), sigma, teacher.body_model),
                    "/camera", int(cfg["chunk_size"]), run_metadata(path, camera_run, base_metadata, "camera"),
                    restart)
    write_track(path, run, lambda: radar_track(info, read_track(path, camera_run), teacher.body_model, cfg),
                "/radar", int(cfg["chunk_size"]), run_metadata(path, run, base_metadata, "radar"), restart)
    return {"camera": camera_run, "radar": run}


def shard(sessions: Sequence[str], rank: int, world_size: int) -> list[str]:
    """Whole sessions owned by ``rank`` of ``world_size`` (round-robin over the sorted list)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside world size {world_size}")
    return sorted(sessions)[rank::world_size]


def resolve_sessions(spec: str | Sequence[str]) -> list[str]:
    """Session paths from a path, a glob or a list of either (sorted, unique).

    Raises:
        DataError: a pattern or path matches no file.
    """
    items = [spec] if isinstance(spec, str) else list(spec)
    found: set[str] = set()
    for item in items:
        matches = glob.glob(os.path.expanduser(str(item)))
        if not matches:
            raise DataError(f"no session matches {item!r}", field="session")
        found.update(os.path.abspath(m) for m in matches)
    return sorted(found)



def build_labeling_teacher(cfg: Mapping[str, Any], body_model: BodyModel) -> tuple[RGBTeacher, str]:
    """The inference teacher of a labeling config and its checkpoint's SHA-256.

    ``checkpoint: null`` gives seeded random weights (for speed measurements
    only); the provenance then says so.
    """
    from wavecap.teacher.checkpoint import load_checkpoint
    from wavecap.teacher.network import build_teacher, fuse_for_inference

    torch.manual_seed(int(cfg.get("seed", 0)))
    net = build_teacher(cfg["teacher"])
    if cfg.get("checkpoint"):
        sha = load_checkpoint(net, Path(str(cfg["checkpoint"])).expanduser()).sha256
    else:
        sha = f"none (random init, seed {int(cfg.get('seed', 0))})"
    teacher = RGBTeacher(fuse_for_inference(net), body_model, float(cfg["teacher"]["crop"]["scale_mult"]),
                         str(cfg["teacher"]["ik"]["variant"]), cfg["teacher"]["ik"].get("root"))
    return teacher, sha


def label_sessions(cfg: DictConfig, body_model: BodyModel, rank: int = 0, world_size: int = 1) -> dict[str, dict]:
    """Label every session of ``cfg.session`` owned by ``rank`` (the script's body).

    Returns:
        {session path: {"camera": run, "radar": run}}.
    """
    sessions = shard(resolve_sessions(cfg.session), rank, world_size)
    source = str(cfg.source)
    if source not in ("rgb", "keypoints"):
        raise DataError(f"source must be rgb or keypoints, got {source!r}", field="source")
    if source == "rgb":
        teacher, sha = build_labeling_teacher(cfg, body_model)
        source_tag = "rgb"
    else:
        sha, source_tag = "none (keypoint source)", f"keypoints:{cfg.keypoints.stream}"
    base = {
        "checkpoint_sha256": sha, "config": provenance_config(cfg), "code_version": code_version(),
        "body_model": body_model.tag, "source": source_tag,
        "box_source": f"{cfg.boxes.source}/{cfg.boxes.first}" if source == "rgb" else "none",
    }
    done: dict[str, dict] = {}
    for path in sessions:
        if source == "rgb":
            done[path] = label_session_rgb(path, teacher, cfg, base, bool(cfg.restart), bool(cfg.progress))
        else:
            from wavecap.teacher.keypoint_labels import label_session_keypoints

            done[path] = label_session_keypoints(path, body_model, cfg, base, bool(cfg.restart))
    return done
