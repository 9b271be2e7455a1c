"""Synthetic synchronized capture: a posed humanoid seen by an RGB camera and a radar.

One PyBullet client holds the room, the subject's articulated humanoid, the
camera and the radar. The subject follows a procedural motion; each sensor
fires on its own clock (``clocks``), and for every frame the humanoid is
posed at that exact time (SLERP / linear interpolation of the motion) and
rendered or ray-cast. Ground truth is sampled on the motion's own frame times.

Frames: world z-up (metres, floor z = 0); radar points in the TI radar frame;
camera as OpenCV. Everything random is drawn from generators seeded with the
capture seed, and PyBullet is deterministic, so a seed reproduces a capture
bit for bit.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pybullet as pb
import torch
from omegaconf import OmegaConf
from tqdm import tqdm

from wavecap.body import BodyModel
from wavecap.body.skeleton import HYBRIK_JOINT_NAMES, NUM_SMPL_JOINTS
from wavecap.datasets import SessionWriter
from wavecap.datasets.motion import FOOT_POINT_NAMES, Motion, random_program
from wavecap.errors import DataError
from wavecap.geometry import matrix_to_quaternion, resample_linear, resample_rotations
from wavecap.physics.humanoid import Humanoid, HumanoidConfig

from .camera import Camera, CameraConfig, silhouette_box
from .clocks import ClockConfig, sensor_timestamps
from .radar import KIND_CLUTTER, RADAR_COLUMNS, RadarConfig, RadarFrame, RadarSimulator
from .scene import SceneConfig, build_scene


@dataclass(frozen=True)
class RadarMount:
    """Where the radar sits in the world.

    Attributes:
        position: antenna centre (m, world).
        yaw_deg: boresight heading, counter-clockwise about world z from +y (deg).
        pitch_deg: boresight elevation, positive up (deg).
    """

    position: tuple[float, float, float] = (0.0, 0.0, 1.0)
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0

    def T_world_from_radar(self) -> np.ndarray:  # noqa: N802
        """[4, 4] float64 rigid transform, TI radar frame (x right, y boresight, z up) -> world."""
        yaw, pitch = np.radians(self.yaw_deg), np.radians(self.pitch_deg)
        Rz = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
        # Pitch about the radar's x axis tilts the boresight (y) towards z.
        Rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(pitch), -np.sin(pitch)], [0.0, np.sin(pitch), np.cos(pitch)]])
        T = np.eye(4)
        T[:3, :3] = Rz @ Rx
        T[:3, 3] = self.position
        return T


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything a synthetic capture is made from (see ``configs/datasets/simulator.yaml``).

    Attributes:
        seconds: capture length on the session clock (s).
        seed: seed of every random draw (motion, clocks, radar, lighting, colours).
        motions: movement names of the motion library, played in order.
        blend_seconds: cross-fade between consecutive movements (s).
        motion_fps: frame rate of the generated motion, which is also the
            ground-truth rate (Hz).
        speed_range: (low, high) of each movement's drawn tempo factor.
        amplitude_range: (low, high) of each movement's drawn range-of-motion factor.
        motion_options: per-movement options of the motion library, e.g.
            ``{"walk_path": {"curvature": 0.5}}``.
        betas: [10] subject shape.
        subject_id: identifier written to the session.
        subject_position: (x, y) of the pelvis at the start (m, world).
        subject_facing_deg: the direction the subject faces at the start,
            counter-clockwise about world z from +x (deg); -90 faces the
            sensors (-y). A student learns the body only from the headings
            its training captures show it.
        velocity_dt_s: backward-difference step for the surface velocity that
            drives the radar's Doppler (s).
        camera, camera_clock, radar, radar_clock, radar_mount, scene, humanoid:
            the parts' own configurations.
    """

    seconds: float = 10.0
    seed: int = 0
    motions: tuple[str, ...] = ("walk_in_place",)
    blend_seconds: float = 0.5
    motion_fps: float = 30.0
    speed_range: tuple[float, float] = (0.9, 1.1)
    amplitude_range: tuple[float, float] = (0.8, 1.0)
    motion_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    betas: tuple[float, ...] = (0.0,) * 10
    subject_id: str = "sim-subject"
    subject_position: tuple[float, float] = (0.0, 2.6)
    subject_facing_deg: float = -90.0
    velocity_dt_s: float = 0.005
    camera: CameraConfig = field(default_factory=CameraConfig)
    camera_clock: ClockConfig = field(default_factory=ClockConfig)
    radar: RadarConfig = field(default_factory=RadarConfig)
    radar_clock: ClockConfig = field(default_factory=ClockConfig)
    radar_mount: RadarMount = field(default_factory=RadarMount)
    scene: SceneConfig = field(default_factory=SceneConfig)
    humanoid: HumanoidConfig = field(default_factory=HumanoidConfig)

    def __post_init__(self) -> None:
        if not self.seconds > 0 or not self.motions:
            raise DataError("need seconds > 0 and at least one motion", group="simulator", field="seconds")
        if not self.velocity_dt_s > 0 or not self.motion_fps > 0:
            raise DataError("velocity_dt_s and motion_fps must be positive", group="simulator", field="velocity_dt_s")
        if len(self.betas) != 10:
            raise DataError(f"betas must have 10 values, got {len(self.betas)}", group="simulator", field="betas")

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> SimulatorConfig:
        """Build from the hydra config ``configs/datasets/simulator.yaml`` (or a plain dict).

        Keys other than the fields (``out``, ``overwrite``, ``body``, ...) are
        the script's and are ignored here.
        """
        values = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
        parts = {
            "camera": CameraConfig.from_dict, "radar": RadarConfig.from_dict,
            "camera_clock": ClockConfig.from_dict, "radar_clock": ClockConfig.from_dict,
            "scene": SceneConfig.from_dict, "humanoid": lambda v: HumanoidConfig(**v),
            "radar_mount": lambda v: RadarMount(**{k: tuple(x) if isinstance(x, list) else x for k, x in v.items()}),
        }
        kwargs: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            if name not in values:
                continue
            value = values[name]
            if name in parts:
                kwargs[name] = parts[name](value)
            else:
                kwargs[name] = tuple(value) if isinstance(value, list) else value
        return cls(**kwargs)


@dataclass(frozen=True)
class CameraShot:
    """One rendered camera frame.

    Attributes:
        index: frame number in the camera stream.
        t: capture time on the session clock (s).
        rgb: [H, W, 3] uint8 image.
        segmentation: [H, W] int32 PyBullet body id per pixel (-1 = none).
        box: [4] float32 person box (x1, y1, x2, y2) px around the subject's
            visible pixels; all NaN when the subject is not in view.
    """

    index: int
    t: float
    rgb: np.ndarray
    segmentation: np.ndarray
    box: np.ndarray


@dataclass(frozen=True)
class RadarShot:
    """One simulated radar frame.

    Attributes:
        index: frame number in the radar stream.
        t: capture time on the session clock (s).
        frame: points (radar frame) and per-detection truth.
        joint: [n] int16 SMPL joint of each detection's body part (-1 for
            static clutter); ghosts keep the joint of the body point they mirror.
    """

    index: int
    t: float
    frame: RadarFrame
    joint: np.ndarray


def build_motion(config: SimulatorConfig, body_model: BodyModel) -> Motion:
    """The subject's motion: the configured movements in sequence, cut to ``seconds``.

    Each movement gets an equal share of the capture, with a tempo and an
    amplitude drawn from the configured ranges (``random_program``); the first
    starts with the pelvis above ``subject_position`` facing
    ``subject_facing_deg``, the others continue from where the previous one ended. Feet are
    grounded with the body model that gives the ground truth.
    """
    # Spare time per part: cross-fades overlap the parts, and the cut needs the last frame.
    share = config.seconds / len(config.motions) + config.blend_seconds + 2.0 / config.motion_fps
    # The motion library grounds feet in float64; a copy keeps the caller's model as it is.
    model = None if body_model.is_standin else copy.deepcopy(body_model).double()
    motion = random_program(
        config.motions, share, speed_range=config.speed_range, amplitude_range=config.amplitude_range,
        seed=config.seed, fps=config.motion_fps, blend_seconds=config.blend_seconds,
        betas=np.asarray(config.betas, dtype=np.float64), start_xy=config.subject_position,
        facing=float(np.radians(config.subject_facing_deg)),
        options=config.motion_options, model=model,
    )
    frames = int(np.floor(config.seconds * motion.fps + 1e-9)) + 1
    if len(motion) < frames:
        raise DataError(f"motion lasts {motion.duration:.2f} s, shorter than the capture ({config.seconds} s)",
                        group="simulator", field="motions")
    return motion.slice(0, frames)


class SyntheticCapture:
    """A synthetic capture session, produced frame by frame.

    Args:
        config: the capture's configuration.
        body_model: body model whose shape the humanoid copies and whose FK
            gives ground-truth joints.
        motion: the subject's motion (world frame, covering ``[0, seconds]``,
            e.g. an AMASS file); by default :func:`build_motion` makes one
            from the configured movements.

    Attributes:
        motion: the subject's motion (world frame, ``config.motion_fps``).
        camera_times: [Tc] camera frame times (s, session clock).
        radar_times: [Tr] radar frame times (s, session clock).
        T_world_from_radar: [4, 4] radar extrinsic.
        camera: the renderer (intrinsics ``K``, ``T_world_from_camera``).
        humanoid: the posed articulated body.
    """

    def __init__(self, config: SimulatorConfig, body_model: BodyModel, motion: Motion | None = None) -> None:
        self.config = config
        self.body_model = body_model
        self.motion = build_motion(config, body_model) if motion is None else motion
        if self.motion.duration < config.seconds - 1e-9:
            raise DataError(f"motion lasts {self.motion.duration:.2f} s, shorter than the capture "
                            f"({config.seconds} s)", group="simulator", field="motions")
        self.camera_times = sensor_timestamps(config.camera.fps, config.seconds, config.camera_clock,
                                              np.random.default_rng([config.seed, 1]))
        self.radar_times = sensor_timestamps(config.radar.frame_rate_hz, config.seconds, config.radar_clock,
                                             np.random.default_rng([config.seed, 2]))
        self.T_world_from_radar = config.radar_mount.T_world_from_radar()
        self.client_id = pb.connect(pb.DIRECT)
        self.scene = build_scene(self.client_id, config.scene, config.seed)
        self.humanoid = Humanoid(self.client_id, body_model, self.motion.betas, config.humanoid)
        self.camera = Camera(self.client_id, config.camera, config.seed, static_uids=self.scene.uids.values())
        self.radar = RadarSimulator(self.client_id, config.radar, self.T_world_from_radar, config.seed)
        self._betas = torch.as_tensor(self.motion.betas, dtype=torch.float32)[None]
        self._motion_times = torch.from_numpy(self.motion.times())
        self._motion_rotations = torch.from_numpy(self.motion.rotations())  # [T, 24, 3, 3]

    def close(self) -> None:
        """Release the PyBullet client."""
        if self.client_id >= 0:
            pb.disconnect(self.client_id)
            self.client_id = -1

    def __enter__(self) -> SyntheticCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sample(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The motion at arbitrary times (SLERP rotations, linear translation).

        Args:
            times: [M] seconds on the session clock.

        Returns:
            rotations [M, 24, 3, 3] float64 (world root first), transl [M, 3] (m, world).
        """
        dst = torch.as_tensor(np.asarray(times, dtype=np.float64))
        rot = resample_rotations(self._motion_times, self._motion_rotations, dst)
        transl = resample_linear(self._motion_times, torch.from_numpy(self.motion.transl), dst)
        return rot.numpy(), transl.numpy()

    def forward(self, rotations: np.ndarray, transl: np.ndarray, vertices: bool = False) -> Any:
        """Body-model FK of sampled poses (see :meth:`sample`): a ``BodyOutput``."""
        rot = torch.as_tensor(rotations, dtype=torch.float32)
        with torch.no_grad():
            return self.body_model(rot[:, 0], rot[:, 1:], self._betas, torch.as_tensor(transl, dtype=torch.float32),
                                   return_vertices=vertices)

    def ground_truth(self) -> dict[str, np.ndarray]:
        """Ground truth on the motion's frame times, all world frame.

        Returns:
            ``timestamps`` [T] s, ``global_orient`` [T, 3] and ``body_pose``
            [T, 69] axis-angle (rad), ``betas`` [10], ``transl`` [T, 3] m,
            ``joints`` [T, 29, 3] m (24 SMPL joints + 5 HybrIK leaves),
            ``contacts`` [T, 4] bool (left/right heel/toe) or None when the
            motion has none.
        """
        motion = self.motion
        out = self.forward(motion.rotations(), motion.transl)
        return {
            "timestamps": motion.times(),
            "global_orient": motion.global_orient,
            "body_pose": motion.body_pose,
            "betas": motion.betas,
            "transl": motion.transl,
            "joints": out.joints29.numpy(),
            "contacts": motion.contacts,
        }

    def _radar_links(self, transforms: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
        """{(body uid, link): T_world_from_link} of the humanoid from FK transforms [24, 4, 4]."""
        uid = self.humanoid.body_uid
        return {(uid, self.humanoid.joint_to_link[j]): transforms[j] for j in range(NUM_SMPL_JOINTS)}

    def shots(self) -> Iterator[CameraShot | RadarShot]:
        """Every camera and radar frame, in time order (ties: camera first).

        The humanoid is posed at each frame's time before it is rendered or
        ray-cast. The radar's surface velocities come from link transforms at
        the frame time and ``velocity_dt_s`` earlier (body-model FK).
        """
        cam_rot, cam_transl = self.sample(self.camera_times)
        radar_rot, radar_transl = self.sample(self.radar_times)
        # One batched conversion per stream; posing then needs no torch work.
        cam_q = matrix_to_quaternion(torch.from_numpy(cam_rot)).numpy()  # [Tc, 24, 4] wxyz
        radar_q = matrix_to_quaternion(torch.from_numpy(radar_rot)).numpy()  # [Tr, 24, 4]
        dt = self.config.velocity_dt_s
        now = self.forward(radar_rot, radar_transl).transforms.double().numpy()  # [Tr, 24, 4, 4]
        prev_rot, prev_transl = self.sample(self.radar_times - dt)
        prev = self.forward(prev_rot, prev_transl).transforms.double().numpy()
        people = {self.humanoid.body_uid}
        joint_of_link = np.argsort(np.asarray(self.humanoid.joint_to_link))  # indexed by link + 1
        events = sorted([(t, 0, i) for i, t in enumerate(self.camera_times)]
                        + [(t, 1, i) for i, t in enumerate(self.radar_times)])
        for t, sensor, i in events:
            if sensor == 0:
                self.humanoid.set_pose_quaternions(cam_q[i], cam_transl[i])
                rgb, segmentation = self.camera.render()
                box = silhouette_box(segmentation, self.humanoid.body_uid)
                yield CameraShot(i, float(t), rgb, segmentation, box)
            else:
                self.humanoid.set_pose_quaternions(radar_q[i], radar_transl[i])
                frame = self.radar.capture(float(t), self._radar_links(now[i]), self._radar_links(prev[i]), dt, people)
                joint = np.where(frame.kind == KIND_CLUTTER, -1, joint_of_link[frame.link + 1]).astype(np.int16)
                yield RadarShot(i, float(t), frame, joint)

    def radar_session_config(self) -> dict[str, Any]:
        """Radar attributes for the session: model, rates, resolutions, Doppler sign, clock model."""
        cfg, clock = self.config.radar, self.config.radar_clock
        return {
            "model": cfg.model,
            "frame_rate_hz": float(cfg.frame_rate_hz),
            "range_resolution_m": float(cfg.range_resolution_m),
            "doppler_resolution_mps": float(cfg.doppler_resolution_mps),
            "doppler_sign": "positive_away",
            "clock_offset_s": float(clock.offset_s),
            "clock_drift_ppm": float(clock.drift_ppm),
            "clock_jitter_s": float(clock.jitter_s),
            "simulated": True,
        }



def write_session(
    capture: SyntheticCapture,
    path: str,
    *,
    overwrite: bool = False,
    compression: str | None = "lzf",
    progress: bool = True,
    on_shot: Callable[[CameraShot | RadarShot], None] | None = None,
) -> None:
    """Run a capture and write it as a session file.

    Camera frames (with the subject's silhouette box in ``/camera/boxes``,
    source ``"simulator-silhouette"``) and radar frames are appended as they
    are produced; the ground truth, and the per-point radar truth in
    ``/radar_truth`` (rows aligned with ``/radar/points``: kind, SMPL joint,
    true position in the radar frame, true radial velocity), are written at
    the end. The file appears at ``path`` only once it is complete and valid.

    Args:
        capture: the capture to run (its shots are consumed).
        path: session file to write.
        overwrite: replace an existing file.
        compression: HDF5 filter of the streams (``"lzf"``, ``"gzip"`` or None).
        progress: show a tqdm bar over the frames.
        on_shot: called with every shot after it is written (for measurements).
    """
    cfg = capture.config
    gt = capture.ground_truth()
    truth: dict[str, list[np.ndarray]] = {"kind": [], "joint": [], "true_position": [], "true_radial_velocity": []}
    total = len(capture.camera_times) + len(capture.radar_times)
    with SessionWriter(
        path, created_by="wavecap simulate_capture", overwrite=overwrite, compression=compression,
        description=f"synthetic capture: {', '.join(cfg.motions)}; {cfg.seconds} s, seed {cfg.seed}",
        body_model=capture.body_model.tag, subject=cfg.subject_id,
        subject_info={"simulated": True, "seed": int(cfg.seed), "motions": ",".join(cfg.motions)},
    ) as writer:
        writer.begin_camera(width=cfg.camera.width, height=cfg.camera.height, intrinsics=capture.camera.K,
                            T_world_from_camera=capture.camera.T_world_from_camera, fps=float(cfg.camera.fps),
                            boxes_source="simulator-silhouette")
        writer.begin_radar(columns=RADAR_COLUMNS, T_world_from_radar=capture.T_world_from_radar,
                           config=capture.radar_session_config())
        for shot in tqdm(capture.shots(), total=total, desc="simulate", unit="frame", disable=not progress):
            if isinstance(shot, CameraShot):
                writer.append_camera_frame(shot.rgb, shot.t, shot.box)
            else:
                writer.append_radar_frame(shot.frame.points, shot.t)
                truth["kind"].append(shot.frame.kind)
                truth["joint"].append(shot.joint)
                truth["true_position"].append(shot.frame.true_position)
                truth["true_radial_velocity"].append(shot.frame.true_radial_velocity)
            if on_shot is not None:
                on_shot(shot)
        writer.write_ground_truth(
            gt["timestamps"], global_orient=gt["global_orient"], body_pose=gt["body_pose"], betas=gt["betas"],
            transl=gt["transl"], joints=gt["joints"], joint_names=HYBRIK_JOINT_NAMES, skeleton="hybrik29",
            contacts=gt["contacts"], contact_names=FOOT_POINT_NAMES,
        )
        truth_arrays = {k: np.concatenate(v) for k, v in truth.items()}
        # Stored in the radar frame, like the points they describe.
        T_radar_from_world = np.linalg.inv(capture.T_world_from_radar)
        truth_arrays["true_position"] = (truth_arrays["true_position"] @ T_radar_from_world[:3, :3].T
                                         + T_radar_from_world[:3, 3]).astype(np.float32)
        writer.write_radar_truth(**truth_arrays)
