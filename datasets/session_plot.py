"""One-frame picture of a session: the camera image and the radar cloud with the skeleton.

How a person checks that the streams line up: the ground-truth skeleton is
projected into the RGB image (camera intrinsics and extrinsic) and drawn
over the radar points in a bird's-eye and a side view of the radar frame.
Each view uses the ground-truth sample nearest in time to what it shows.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from wavecap.body.skeleton import HYBRIK_PARENTS, SMPL_PARENTS  # noqa: E402
from wavecap.errors import DataError  # noqa: E402

from .session_reader import Session  # noqa: E402

_LEFT, _RIGHT, _MIDDLE = "#e4572e", "#2e86de", "#222222"
# Point styles of the simulator's per-point truth kinds (body, clutter, ghost).
_KIND_MARKERS = {0: ("o", "body"), 1: ("s", "static clutter"), 2: ("x", "multipath ghost")}


def _parents(joint_names: tuple[str, ...]) -> tuple[int, ...] | None:
    return {24: SMPL_PARENTS, 29: HYBRIK_PARENTS}.get(len(joint_names))


def _bone_color(name: str) -> str:
    return _LEFT if name.startswith("left") else _RIGHT if name.startswith("right") else _MIDDLE


def _draw_skeleton(ax: Axes, xy: np.ndarray, names: tuple[str, ...], parents: tuple[int, ...] | None) -> None:
    """Bones (parent -> child) coloured by side, plus joint dots; ``xy`` [J, 2]."""
    if parents is not None:
        for child, parent in enumerate(parents):
            if parent >= 0:
                ax.plot(xy[[parent, child], 0], xy[[parent, child], 1], "-", lw=2, color=_bone_color(names[child]))
    ax.plot(xy[:, 0], xy[:, 1], "o", ms=2.5, color="k")


def _nearest(times: np.ndarray, t: float) -> int:
    return int(np.argmin(np.abs(times - t)))


def plot_session_frame(session: Session, frame: int, out: str | os.PathLike[str]) -> dict[str, float | int]:
    """Draw camera frame ``frame`` and the radar frame nearest to it, with the skeleton.

    Args:
        session: an open session with a camera, a radar and joint ground truth.
        frame: camera frame index (negative counts from the end).
        out: PNG file to write.

    Returns:
        The times used: ``camera_t``, ``radar_frame``, ``radar_t``,
        ``gt_t_camera``, ``gt_t_radar`` (s), and ``radar_points``.

    Raises:
        DataError: the session lacks a camera stream or joint ground truth.
    """
    camera, radar, gt = session.camera, session.radar, session.ground_truth
    if camera is None or gt is None or "joints" not in gt.names:
        raise DataError("plotting needs a camera stream and ground-truth joints", file=session.path)
    frame = range(len(camera))[frame]
    t_cam = float(camera.timestamps[frame])
    r = _nearest(radar.timestamps, t_cam)
    t_radar = float(radar.timestamps[r])
    g_cam, g_radar = _nearest(gt.timestamps, t_cam), _nearest(gt.timestamps, t_radar)
    names = gt.joint_names
    parents = _parents(names)

    # Camera: world joints -> OpenCV camera -> pixels.
    joints = gt.field("joints", g_cam, g_cam + 1)[0].astype(np.float64)  # [J, 3] world
    T_cam_from_world = np.linalg.inv(camera.T_world_from_camera)
    in_cam = joints @ T_cam_from_world[:3, :3].T + T_cam_from_world[:3, 3]  # [J, 3]
    uvw = in_cam @ camera.intrinsics.T
    uv = uvw[:, :2] / np.maximum(uvw[:, 2:], 1e-6)  # [J, 2] px

    # Radar: points are in the radar frame; bring the skeleton there too.
    points = radar.frame(r)
    columns = radar.columns
    joints_r = gt.field("joints", g_radar, g_radar + 1)[0].astype(np.float64)
    T_radar_from_world = np.linalg.inv(radar.T_world_from_radar)
    skeleton_r = joints_r @ T_radar_from_world[:3, :3].T + T_radar_from_world[:3, 3]  # [J, 3]
    doppler = points[:, columns.index("doppler")] if "doppler" in columns else np.zeros(len(points))
    kinds = session.radar_truth.frame(r)["kind"] if session.radar_truth is not None else np.zeros(len(points), int)

    fig, axes = plt.subplots(1, 3, figsize=(16, 5.2), gridspec_kw={"width_ratios": [1.35, 1, 1]})
    ax = axes[0]
    ax.imshow(camera.frame(frame))
    visible = in_cam[:, 2] > 0
    _draw_skeleton(ax, np.where(visible[:, None], uv, np.nan), names, parents)
    ax.set_xlim(-0.5, camera.width - 0.5)
    ax.set_ylim(camera.height - 0.5, -0.5)
    ax.set_title(f"camera frame {frame}, t = {t_cam:.3f} s\nground truth at {gt.timestamps[g_cam]:.3f} s (px)")
    ax.set_xlabel("u (px)")
    ax.set_ylabel("v (px)")

    limit = max(1.0, float(np.abs(doppler).max(initial=0.0)))
    centre = skeleton_r.mean(axis=0)
    far = max(4.0, centre[1] + 1.3)  # boresight extent shown (m)
    views = (
        (axes[1], (0, 1), ((centre[0] - 1.5, centre[0] + 1.5), (0.0, far)),
         "bird's-eye: radar x (m) vs y = boresight (m)", ("x (m)", "y (m)")),
        (axes[2], (1, 2), ((0.0, far), (-1.6, 1.6)),
         "side: radar y = boresight (m) vs z = up (m)", ("y (m)", "z (m)")),
    )
    for ax, (a, b), (xlim, ylim), title, (xlabel, ylabel) in views:
        _draw_skeleton(ax, skeleton_r[:, [a, b]], names, parents)
        for kind, (marker, label) in _KIND_MARKERS.items():
            rows = kinds == kind
            if rows.any():
                outlined = marker != "x"  # an "x" has no face to outline
                sc = ax.scatter(points[rows, a], points[rows, b], c=doppler[rows], cmap="coolwarm", vmin=-limit,
                                vmax=limit, marker=marker, s=22 if outlined else 30, edgecolors="k" if outlined else None,
                                linewidths=0.3 if outlined else 1.5, label=label)
        ax.plot([0], [0], "k^", ms=8)  # the radar
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
    if len(points):
        fig.colorbar(sc, ax=axes[2], label="Doppler (m/s, " + str(radar.config.get("doppler_sign", "")) + ")")
        axes[1].legend(loc="lower left", fontsize=8)
    fig.suptitle(f"radar frame {r}: {len(points)} points, t = {t_radar:.3f} s "
                 f"(ground truth at {gt.timestamps[g_radar]:.3f} s)", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return {"camera_t": t_cam, "radar_frame": r, "radar_t": t_radar, "gt_t_camera": float(gt.timestamps[g_cam]),
            "gt_t_radar": float(gt.timestamps[g_radar]), "radar_points": len(points)}
