"""Where the person is in each frame: the box the teacher crops around.

Three sources, chosen by config (``boxes.source``):

* ``session`` — per-frame boxes stored with the recording (from a detector,
  an annotation tool or the simulator's ground truth);
* ``fixed`` — one region from the config for every frame (a person staying
  in a known area in front of a static camera);
* ``track`` — each frame's box is built around the previous frame's
  projected joints (:class:`JointTracker`); the first box comes from one of
  the other two sources.

All boxes are (x1, y1, x2, y2) in image pixels, before HybrIK's square
x1.25 expansion (:func:`wavecap.teacher.crop.square_boxes` does that).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from wavecap.errors import DataError


def check_boxes(
    boxes: torch.Tensor, *, file: str | None = None, group: str | None = None, field: str | None = None
) -> torch.Tensor:
    """Validate boxes [T, 4]: finite, x2 > x1 and y2 > y1.

    Args:
        boxes: [T, 4] (x1, y1, x2, y2) image pixels.
        file, group, field: where they came from, for the error message.

    Returns:
        the boxes, unchanged.

    Raises:
        DataError: naming the first bad frame.
    """
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise DataError(f"boxes must be [T, 4], got {tuple(boxes.shape)}", file=file, group=group, field=field)
    bad = ~torch.isfinite(boxes).all(dim=1) | (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if bool(bad.any()):
        frame = int(bad.nonzero()[0, 0])
        raise DataError(
            f"invalid person box {boxes[frame].tolist()} (need finite x1 < x2, y1 < y2)",
            file=file, group=group, field=field, frame=frame,
        )
    return boxes


def fixed_boxes(region: Sequence[float], num_frames: int) -> torch.Tensor:
    """The configured region for every frame.

    Args:
        region: (x1, y1, x2, y2) image pixels.
        num_frames: T.

    Returns:
        [T, 4] float32 boxes.
    """
    box = torch.tensor([float(v) for v in region], dtype=torch.float32)
    check_boxes(box[None], field="boxes.region")
    return box.expand(num_frames, 4).clone()


def box_from_joints(uv: torch.Tensor, margin: float = 0.1, min_size: float = 16.0) -> torch.Tensor:
    """A box around projected joints, enlarged by a margin on every side.

    The 29 HybrIK joints include the head top, fingertips and toes, so the
    joints' extent is close to the body's; the margin adds room for motion
    between frames.

    Args:
        uv: [..., J, 2] joint pixels (x, y).
        margin: fraction of the joints' width / height added on each side.
        min_size: smallest width / height of the result in pixels.

    Returns:
        [..., 4] boxes (x1, y1, x2, y2).
    """
    lo, hi = uv.amin(dim=-2), uv.amax(dim=-2)  # [..., 2]
    half = ((hi - lo) * (0.5 + margin)).clamp_min(min_size / 2)
    centre = (lo + hi) / 2
    return torch.cat([centre - half, centre + half], dim=-1)


class JointTracker:
    """Box source that follows the person from frame to frame.

    Usage, frame by frame::

        tracker = JointTracker(first_box)
        for frame in frames:
            box = tracker.box              # crop this frame here
            uv = ...                       # the teacher's joints in image pixels
            tracker.update(uv, scores)     # box for the next frame

    Args:
        first_box: [4] box of the first frame (from the session or the
            fixed region).
        margin: see :func:`box_from_joints`.
        min_score: joints with a lower confidence are ignored; a frame with
            none left keeps the previous box (the person may be occluded).
    """

    def __init__(self, first_box: torch.Tensor, margin: float = 0.1, min_score: float = 0.0) -> None:
        self.box = check_boxes(torch.as_tensor(first_box, dtype=torch.float32).reshape(1, 4))[0]
        self.margin = margin
        self.min_score = min_score

    def update(self, uv: torch.Tensor, scores: torch.Tensor | None = None) -> torch.Tensor:
        """Set the next frame's box from this frame's joints.

        Args:
            uv: [J, 2] joint pixels of the current frame.
            scores: [J] joint confidences, or None to use every joint.

        Returns:
            [4] the new box.
        """
        finite = torch.isfinite(uv).all(dim=-1)
        keep = finite if scores is None else finite & (scores > self.min_score)
        if bool(keep.any()):
            self.box = box_from_joints(uv[keep].float(), self.margin)
        return self.box
