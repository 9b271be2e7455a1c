"""Pinhole RGB camera rendered with PyBullet's TinyRenderer (CPU).

The camera is described the OpenCV way (intrinsics K in pixels, pose
``T_world_from_camera`` with x right, y down, z forward) because that is what
sessions store and what pose estimators assume. PyBullet wants OpenGL
matrices instead: a view matrix into a camera that looks down -z with y up,
and a projection onto normalised device coordinates. Both are derived here
from K and the pose so that a world point lands on the pixel that
``wavecap.geometry.project_points`` predicts (OpenCV pixel centres at integer
coordinates).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pybullet as pb
import torch
from omegaconf import OmegaConf

from wavecap.errors import DataError
from wavecap.geometry import intrinsics_matrix, look_at

# OpenCV camera axes expressed in the OpenGL camera frame (flip y and z).
_GL_FROM_CV = np.diag([1.0, -1.0, -1.0, 1.0])


@dataclass(frozen=True)
class CameraConfig:
    """Intrinsics, pose and lighting of the simulated RGB camera.

    Attributes:
        width, height: image size (px).
        fps: nominal frame rate (Hz).
        fx, fy, cx, cy: pinhole intrinsics (px); None derives fx = fy from
            ``hfov_deg`` and puts the principal point at the image centre.
        hfov_deg: horizontal field of view used when fx is None (deg).
        eye: camera centre (m, world).
        target: point on the optical axis (m, world); the image x axis is
            kept horizontal.
        near, far: clipping distances (m).
        light_direction: direction towards the light (world).
        light_color: RGB of the light in [0, 1].
        ambient, diffuse, specular: TinyRenderer lighting coefficients.
        shadow: render shadows (about twice as slow).
        lighting_jitter: seeded per-capture variation: the light direction
            tilts by up to this many radians and the coefficients and light
            colour scale by up to this fraction (0 = fixed lighting).
    """

    width: int = 320
    height: int = 240
    fps: float = 30.0
    fx: float | None = None
    fy: float | None = None
    cx: float | None = None
    cy: float | None = None
    hfov_deg: float = 70.0
    eye: tuple[float, float, float] = (1.1, -0.3, 1.5)
    target: tuple[float, float, float] = (0.0, 2.6, 0.9)
    near: float = 0.05
    far: float = 20.0
    light_direction: tuple[float, float, float] = (0.4, -1.0, 2.0)
    light_color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ambient: float = 0.55
    diffuse: float = 0.55
    specular: float = 0.05
    shadow: bool = False
    lighting_jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.fps <= 0:
            raise DataError("width, height and fps must be positive", group="camera", field="width")
        if not 0 < self.near < self.far:
            raise DataError("need 0 < near < far", group="camera", field="near")
        if self.fx is None and not 0 < self.hfov_deg < 180:
            raise DataError("hfov_deg must be in (0, 180)", group="camera", field="hfov_deg")
        if any(v is not None and not v > 0 for v in (self.fx, self.fy)):
            raise DataError("focal lengths must be positive", group="camera", field="fx")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CameraConfig:
        """Build from a plain or hydra mapping; absent keys keep defaults.

        Raises:
            DataError: unknown keys or bad values.
        """
        if OmegaConf.is_config(values):
            values = OmegaConf.to_container(values, resolve=True)  # type: ignore[assignment]
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise DataError(f"unknown camera keys {sorted(unknown)}", group="camera", field=sorted(unknown)[0])
        return cls(**{k: tuple(v) if isinstance(v, Sequence) and not isinstance(v, str) else v
                      for k, v in values.items()})

    def intrinsics(self) -> np.ndarray:
        """[3, 3] float64 pinhole matrix K (px)."""
        fx = self.fx if self.fx is not None else 0.5 * self.width / np.tan(np.radians(self.hfov_deg) / 2)
        fy = self.fy if self.fy is not None else fx
        cx = self.cx if self.cx is not None else 0.5 * (self.width - 1)
        cy = self.cy if self.cy is not None else 0.5 * (self.height - 1)
        return intrinsics_matrix(fx, fy, cx, cy, dtype=torch.float64).numpy()

    def T_world_from_camera(self) -> np.ndarray:  # noqa: N802
        """[4, 4] float64 pose of the OpenCV camera frame in the world (m)."""
        as_t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
        return look_at(as_t(self.eye), as_t(self.target), as_t((0.0, 0.0, 1.0))).numpy()


def gl_view_matrix(T_world_from_camera: np.ndarray) -> list[float]:  # noqa: N803
    """PyBullet view matrix (column-major 16 floats) of an OpenCV camera pose.

    Args:
        T_world_from_camera: [4, 4] OpenCV camera pose (m, world).

    Returns:
        The OpenGL world-to-eye matrix, flattened column-major.
    """
    view = _GL_FROM_CV @ np.linalg.inv(T_world_from_camera)  # T_gl_from_world
    return view.T.ravel().tolist()


def gl_projection_matrix(K: np.ndarray, width: int, height: int, near: float, far: float) -> list[float]:  # noqa: N803
    """PyBullet projection matrix (column-major 16 floats) from pinhole intrinsics.

    TinyRenderer samples pixel column i at screen x = i and pixel row j at
    screen y = H - 1 - j (y up), with screen = (ndc + 1) * size / 2. So an
    OpenCV pixel (u, v) (centres at integer coordinates, v down) must map to
    normalised device coordinates x = 2u / W - 1, y = 1 - 2(v + 1) / H;
    depth goes to [-1, 1] between ``near`` and ``far``.

    Args:
        K: [3, 3] intrinsics (px), no skew.
        width, height: image size (px).
        near, far: clipping distances (m).

    Returns:
        The OpenGL projection matrix, flattened column-major.
    """
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    P = np.zeros((4, 4))
    P[0, 0] = 2 * fx / width
    P[0, 2] = 1 - 2 * cx / width
    P[1, 1] = 2 * fy / height
    P[1, 2] = (2 * cy + 2) / height - 1
    P[2, 2] = -(far + near) / (far - near)
    P[2, 3] = -2 * far * near / (far - near)
    P[3, 2] = -1.0
    return P.T.ravel().tolist()


def silhouette_box(segmentation: np.ndarray, uid: int) -> np.ndarray:
    """Tight box around the pixels of one body in a segmentation image.

    The box runs along the outer pixel edges (OpenCV pixel centres are at
    integer coordinates, so pixel i spans [i - 0.5, i + 0.5]): a body seen
    in a single pixel still gets x2 > x1.

    Args:
        segmentation: [H, W] int32 PyBullet body id per pixel.
        uid: the body's unique id.

    Returns:
        [4] float32 (x1, y1, x2, y2) image pixels; all NaN when no pixel shows the body.
    """
    mask = segmentation == uid  # [H, W]
    cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    if cols.size == 0:
        return np.full(4, np.nan, dtype=np.float32)
    return np.array([cols[0] - 0.5, rows[0] - 0.5, cols[-1] + 0.5, rows[-1] + 0.5], dtype=np.float32)


class Camera:
    """Renders a PyBullet scene through a :class:`CameraConfig`.

    TinyRenderer's cost is mostly filling pixels, and the floor and walls
    cover the whole image. Objects listed in ``static_uids`` are therefore
    rendered once into a background (colour, depth, ids) and hidden in the
    per-frame renders, which then only rasterise the moving bodies; the two
    are composited by depth. Without shadows, lighting in TinyRenderer is per
    object, so the composite equals a full render; with ``shadow`` on, every
    frame is rendered in full.

    Args:
        client_id: PyBullet physics client.
        config: intrinsics, pose and lighting.
        seed: seed of the lighting variation (drawn once, fixed per capture).
        static_uids: bodies that never move (the scene).
    """

    def __init__(self, client_id: int, config: CameraConfig, seed: int = 0, static_uids: Iterable[int] = ()) -> None:
        self.client_id = client_id
        self.config = config
        self.K = config.intrinsics()
        self.T_world_from_camera = config.T_world_from_camera()
        self._view = gl_view_matrix(self.T_world_from_camera)
        self._projection = gl_projection_matrix(self.K, config.width, config.height, config.near, config.far)
        self._lighting = self._draw_lighting(np.random.default_rng(seed))
        self._static = tuple(int(uid) for uid in static_uids) if not config.shadow else ()
        self._hide_static = _Hidden(client_id, self._static)
        self._background: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _draw_lighting(self, rng: np.random.Generator) -> dict[str, Any]:
        cfg = self.config
        jitter = cfg.lighting_jitter
        direction = np.asarray(cfg.light_direction, dtype=np.float64)
        direction = direction / np.linalg.norm(direction)
        if jitter > 0:
            axis = rng.normal(size=3)
            axis -= axis.dot(direction) * direction
            angle = rng.uniform(0.0, jitter)
            axis /= np.linalg.norm(axis)
            direction = np.cos(angle) * direction + np.sin(angle) * axis
        scale = lambda: float(rng.uniform(1 - jitter, 1 + jitter)) if jitter > 0 else 1.0  # noqa: E731
        return {
            "lightDirection": direction.tolist(),
            "lightColor": np.clip(np.asarray(cfg.light_color) * [scale(), scale(), scale()], 0, 1).tolist(),
            "lightAmbientCoeff": cfg.ambient * scale(),
            "lightDiffuseCoeff": cfg.diffuse * scale(),
            "lightSpecularCoeff": cfg.specular * scale(),
            "shadow": int(cfg.shadow),
        }

    def _raw(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """rgb [H, W, 3] uint8, z-buffer depth [H, W] float32, body ids [H, W] int32."""
        cfg = self.config
        _, _, rgba, depth, segmentation = pb.getCameraImage(
            cfg.width, cfg.height, self._view, self._projection, renderer=pb.ER_TINY_RENDERER,
            physicsClientId=self.client_id, **self._lighting)
        shape = (cfg.height, cfg.width)
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(*shape, 4)[..., :3]
        return rgb, np.asarray(depth, dtype=np.float32).reshape(shape), np.asarray(segmentation, dtype=np.int32).reshape(shape)

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        """Render the scene as it is now.

        Returns:
            rgb: [H, W, 3] uint8, row 0 at the top.
            segmentation: [H, W] int32 PyBullet body id per pixel (-1 = none).
        """
        if not self._static:
            rgb, _, segmentation = self._raw()
            return np.ascontiguousarray(rgb), segmentation
        if self._background is None:
            cid = self.client_id
            moving = [pb.getBodyUniqueId(i, physicsClientId=cid) for i in range(pb.getNumBodies(physicsClientId=cid))]
            with _Hidden(cid, [uid for uid in moving if uid not in self._static]):
                self._background = self._raw()
        with self._hide_static:
            rgb, depth, segmentation = self._raw()
        bg_rgb, bg_depth, bg_segmentation = self._background
        front = (segmentation >= 0) & (depth < bg_depth)  # [H, W]
        out_rgb, out_segmentation = bg_rgb.copy(), bg_segmentation.copy()
        out_rgb[front] = rgb[front]
        out_segmentation[front] = segmentation[front]
        return out_rgb, out_segmentation


class _Hidden:
    """Context manager making bodies invisible to TinyRenderer (alpha 0), then restoring their colours."""

    def __init__(self, client_id: int, uids: Iterable[int]) -> None:
        self.client_id = client_id
        self.shapes = [(s[0], s[1], s[7]) for uid in uids
                       for s in pb.getVisualShapeData(uid, physicsClientId=client_id)]  # (uid, link, rgba)

    def __enter__(self) -> None:
        for uid, link, rgba in self.shapes:
            pb.changeVisualShape(uid, link, rgbaColor=[*rgba[:3], 0.0], physicsClientId=self.client_id)

    def __exit__(self, *exc: object) -> None:
        for uid, link, rgba in self.shapes:
            pb.changeVisualShape(uid, link, rgbaColor=list(rgba), physicsClientId=self.client_id)
