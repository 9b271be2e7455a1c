"""A tiny synthetic session with every group filled, for tests and examples.

The values are random, not physical; only the layout matters.
"""

from __future__ import annotations

import os

import numpy as np

from .session_writer import SessionWriter

RADAR_COLUMNS = ("x", "y", "z", "doppler", "snr")


def _pose(yaw: float, translation: tuple[float, float, float]) -> np.ndarray:
    """(4, 4) rigid transform: rotation ``yaw`` (rad) about z, then translation (m)."""
    c, s = np.cos(yaw), np.sin(yaw)
    m = np.eye(4)
    m[:2, :2] = [[c, -s], [s, c]]
    m[:3, 3] = translation
    return m


def write_example_session(
    path: str | os.PathLike[str],
    *,
    n_radar: int = 20,
    n_camera: int = 6,
    n_ground_truth: int = 12,
    encoding: str | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> None:
    """Write a small valid session with radar (and its truth), camera, ground truth and keypoints.

    Args:
        path: target file.
        n_radar: radar frames (10 Hz, 0-7 points each, 4x6 range-azimuth heatmaps).
        n_camera: camera frames (8x10 px at 3 Hz) with person boxes (none in frames 1, 5, ...).
        n_ground_truth: ground-truth and keypoint frames (5 Hz).
        encoding: camera storage: None (raw) or ``"png"``/``"jpeg"``.
        seed: random seed.
        overwrite: replace an existing file.
    """
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 8, n_radar)
    points = [rng.normal(size=(n, len(RADAR_COLUMNS))).astype(np.float32) for n in counts]
    k = np.array([[12.0, 0.0, 5.0], [0.0, 12.0, 4.0], [0.0, 0.0, 1.0]])
    t_gt = np.arange(n_ground_truth) / 5.0
    with SessionWriter(path, created_by="wavecap.datasets.session_example", overwrite=overwrite,
                       description="synthetic example", body_model="smpl", subject="S00",
                       subject_info={"height_m": 1.75}) as w:
        w.write_radar(
            points, np.arange(n_radar) / 10.0, columns=RADAR_COLUMNS, T_world_from_radar=_pose(0.3, (0, -2, 1)),
            config={"model": "synthetic", "frame_rate_hz": 10.0, "doppler_sign": "positive_away"},
            heatmaps=rng.random((n_radar, 4, 6), dtype=np.float32), heatmap_axes=("range", "azimuth"),
            heatmap_bins={"range": np.linspace(0.5, 2.0, 4), "azimuth": np.linspace(-1.0, 1.0, 6)},
        )
        n_points = int(counts.sum())
        true_position = rng.normal(size=(n_points, 3))
        true_position[::5] = np.nan  # ghosts have no true position
        w.write_radar_truth(kind=rng.integers(0, 3, n_points).astype(np.int8), true_position=true_position)
        boxes = np.array([1.0, 0.5, 7.5, 6.0]) + 0.1 * np.arange(n_camera)[:, None]  # drifting right and down
        boxes[1::4] = np.nan  # no person in these frames
        w.write_camera(
            rng.integers(0, 256, (n_camera, 8, 10, 3), dtype=np.uint8), 0.01 + np.arange(n_camera) / 3.0,
            intrinsics=k, T_world_from_camera=_pose(-0.2, (1, -3, 1.5)), fps=3.0, encoding=encoding,
            boxes=boxes, boxes_source="annotation",
        )
        w.write_ground_truth(
            t_gt,
            global_orient=rng.normal(size=(n_ground_truth, 3)), body_pose=rng.normal(size=(n_ground_truth, 69)),
            betas=rng.normal(size=10), transl=rng.normal(size=(n_ground_truth, 3)),
            joints=rng.normal(size=(n_ground_truth, 24, 3)), joint_names=[f"j{i}" for i in range(24)],
            skeleton="smpl24", contacts=rng.random((n_ground_truth, 4)) < 0.5,
        )
        w.write_keypoints(
            "kinect", t_gt, rng.normal(size=(n_ground_truth, 5, 3)), joint_names=[f"k{i}" for i in range(5)],
            skeleton="toy5", frame="camera", confidence=rng.random((n_ground_truth, 5)),
        )
