"""Training targets derived from labels: foot contacts of the labelled motion.

Contacts come from the label's foot height and speed through the motion
library (:func:`wavecap.datasets.motion.foot_points`: heel and toe vertices by
exact LBS; :func:`wavecap.datasets.motion.foot_contacts`: within 3 cm of the
floor and slower than 0.2 m/s, ``metrics.md`` 4.5), so students and
synthetic ground truth share one definition.
"""

from __future__ import annotations

import numpy as np

from wavecap.body import BodyModel
from wavecap.datasets.motion import Motion, foot_contacts, foot_points


def label_contacts(body_model: BodyModel, fps: float, global_orient: np.ndarray, body_pose: np.ndarray,
                   betas: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """Foot contacts of a labelled SMPL sequence.

    Args:
        body_model: the shared body model.
        fps: label frame rate (Hz).
        global_orient: [T, 3] root axis-angle, world frame (z-up, floor z = 0).
        body_pose: [T, 69] axis-angle.
        betas: [10] per sequence, or [T, 10] per frame (averaged: one subject).
        transl: [T, 3] metres, world.

    Returns:
        [T, 4] bool, ``CONTACT_NAMES`` order (left heel, left toe, right heel,
        right toe).

    Raises:
        DataError: a label field has the wrong shape or is not finite.
    """
    betas = np.asarray(betas, dtype=np.float64)
    motion = Motion(fps=fps, global_orient=global_orient, body_pose=body_pose,
                    betas=betas.mean(0) if betas.ndim == 2 else betas, transl=transl)
    return foot_contacts(foot_points(motion, body_model), fps)
