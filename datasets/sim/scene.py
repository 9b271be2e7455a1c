"""The static room of the simulated capture: floor, walls, furniture boxes.

World frame: z up, metres, floor z = 0 (see ``docs/frames.md``). Every object
is a fixed (mass 0) box with a collision shape, so radar rays hit it, and a
coloured visual shape, so the camera renders it. The default room puts the
sensors near y = 0 looking along +y at a subject a few metres in front.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pybullet as pb
from omegaconf import OmegaConf

from wavecap.errors import DataError

RGBA = tuple[float, float, float, float]


@dataclass(frozen=True)
class Furniture:
    """One static box.

    Attributes:
        name: label, for people reading configs.
        center: (x, y) floor position of the box centre (m, world).
        size: (x, y, z) full extents before the yaw (m); it stands on the floor.
        yaw_deg: rotation about world z (deg).
        color: RGBA in [0, 1].
    """

    name: str
    center: tuple[float, float]
    size: tuple[float, float, float]
    yaw_deg: float = 0.0
    color: RGBA = (0.55, 0.40, 0.25, 1.0)


@dataclass(frozen=True)
class SceneConfig:
    """Room layout.

    Attributes:
        x_range: (min, max) x of the room's inner wall faces (m, world).
        y_range: (min, max) y of the inner wall faces (m, world).
        wall_height: m.
        wall_thickness: m.
        walls: which walls exist, among ``"left"`` (x min), ``"right"``
            (x max), ``"back"`` (y max) and ``"front"`` (y min, behind the
            sensors).
        floor_color, wall_color: RGBA.
        furniture: static boxes standing on the floor.
        color_jitter: each object's RGB is scaled by a seeded factor in
            [1 - jitter, 1 + jitter] (0 = the configured colours).
    """

    x_range: tuple[float, float] = (-2.5, 2.5)
    y_range: tuple[float, float] = (-0.8, 5.5)
    wall_height: float = 2.6
    wall_thickness: float = 0.1
    walls: tuple[str, ...] = ("left", "right", "back")
    floor_color: RGBA = (0.55, 0.52, 0.48, 1.0)
    wall_color: RGBA = (0.86, 0.84, 0.78, 1.0)
    furniture: tuple[Furniture, ...] = ()
    color_jitter: float = 0.0

    def __post_init__(self) -> None:
        if not (self.x_range[0] < self.x_range[1] and self.y_range[0] < self.y_range[1]):
            raise DataError("room ranges must be (min, max) with min < max", group="scene", field="x_range")
        if self.wall_height <= 0 or self.wall_thickness <= 0:
            raise DataError("wall height and thickness must be positive", group="scene", field="wall_height")
        unknown = set(self.walls) - {"left", "right", "back", "front"}
        if unknown:
            raise DataError(f"unknown walls {sorted(unknown)}", group="scene", field="walls")
        if not 0.0 <= self.color_jitter < 1.0:
            raise DataError("color_jitter must be in [0, 1)", group="scene", field="color_jitter")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SceneConfig:
        """Build from a plain or hydra mapping (lists become tuples).

        Raises:
            DataError: unknown keys or bad values.
        """
        if OmegaConf.is_config(values):
            values = OmegaConf.to_container(values, resolve=True)  # type: ignore[assignment]
        values = dict(values)
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise DataError(f"unknown scene keys {sorted(unknown)}", group="scene", field=sorted(unknown)[0])
        furniture = tuple(Furniture(**{k: _tuple(v) for k, v in item.items()}) for item in values.pop("furniture", ()))
        return cls(**{k: _tuple(v) for k, v in values.items()}, furniture=furniture)


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else value


@dataclass
class Scene:
    """The built room.

    Attributes:
        uids: {object name: PyBullet body id} of every static object.
        config: what it was built from.
    """

    uids: dict[str, int] = field(default_factory=dict)
    config: SceneConfig = field(default_factory=SceneConfig)


# Corner signs and outward-wound triangles of a box, for its collision mesh.
_CORNERS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)  # [8, 3]
_TRIANGLES = [0, 1, 3, 0, 3, 2, 4, 6, 7, 4, 7, 5, 0, 4, 5, 0, 5, 1,
              2, 3, 7, 2, 7, 6, 0, 2, 6, 0, 6, 4, 1, 5, 7, 1, 7, 3]


def _box(client_id: int, half: np.ndarray, position: np.ndarray, yaw: float, color: RGBA) -> int:
    """A static box: triangle-mesh collision, box visual.

    Bullet ray-casts a static triangle mesh analytically, but a box shape by
    a GJK convex cast, which made the radar's rays about twice as slow.
    """
    orientation = pb.getQuaternionFromEuler([0.0, 0.0, yaw])
    collision = pb.createCollisionShape(pb.GEOM_MESH, vertices=(_CORNERS * half).tolist(), indices=_TRIANGLES,
                                        physicsClientId=client_id)
    visual = pb.createVisualShape(pb.GEOM_BOX, halfExtents=half.tolist(), rgbaColor=list(color),
                                  physicsClientId=client_id)
    return pb.createMultiBody(0.0, collision, visual, position.tolist(), orientation, physicsClientId=client_id)


def build_scene(client_id: int, config: SceneConfig, seed: int = 0) -> Scene:
    """Create the floor, walls and furniture in a PyBullet client.

    The floor is a thin box whose top face is z = 0 (a box rather than a
    plane so that TinyRenderer draws a finite, shaded floor).

    Args:
        client_id: PyBullet physics client.
        config: room layout.
        seed: seed of the colour jitter.

    Returns:
        The scene with the id of every object.
    """
    rng = np.random.default_rng(seed)

    def jitter(color: RGBA) -> RGBA:
        scale = rng.uniform(1.0 - config.color_jitter, 1.0 + config.color_jitter)
        return (*np.clip(np.asarray(color[:3]) * scale, 0.0, 1.0).tolist(), color[3])

    (x0, x1), (y0, y1) = config.x_range, config.y_range
    t, h = config.wall_thickness, config.wall_height
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    sx, sy = x1 - x0 + 2 * t, y1 - y0 + 2 * t  # outer extents
    uids = {"floor": _box(client_id, np.array([sx / 2, sy / 2, t / 2]), np.array([cx, cy, -t / 2]), 0.0,
                          jitter(config.floor_color))}
    walls = {
        "left": (np.array([t / 2, sy / 2, h / 2]), np.array([x0 - t / 2, cy, h / 2])),
        "right": (np.array([t / 2, sy / 2, h / 2]), np.array([x1 + t / 2, cy, h / 2])),
        "back": (np.array([sx / 2, t / 2, h / 2]), np.array([cx, y1 + t / 2, h / 2])),
        "front": (np.array([sx / 2, t / 2, h / 2]), np.array([cx, y0 - t / 2, h / 2])),
    }
    for name in config.walls:
        half, position = walls[name]
        uids[f"wall_{name}"] = _box(client_id, half, position, 0.0, jitter(config.wall_color))
    for k, item in enumerate(config.furniture):
        half = np.asarray(item.size, dtype=np.float64) / 2
        position = np.array([item.center[0], item.center[1], half[2]])
        uids[f"furniture_{k}_{item.name}"] = _box(client_id, half, position, np.radians(item.yaw_deg),
                                                   jitter(item.color))
    return Scene(uids, config)
