"""Before/after figure of foot trajectories for the physics refinement."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on the build machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from wavecap.body import FOOT_VERTEX_IDS, BodyModel  # noqa: E402
from wavecap.datasets.motion import Motion  # noqa: E402
from wavecap.physics.metrics import posed_body  # noqa: E402

_STYLE = {"ground truth": ("k", "--", 1.0), "input": ("tab:red", "-", 0.8), "refined": ("tab:blue", "-", 1.2)}


def _contact_spans(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) frame ranges where ``flags`` [T] is True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def plot_foot_trajectories(
    model: BodyModel,
    truth: Motion,
    noisy: Motion,
    refined: Motion,
    contacts: np.ndarray,
    path: str | Path,
    seconds: float | None = None,
) -> None:
    """Heel and toe height and horizontal position over time, before and after refinement.

    One column per foot; rows: heel height, toe height (mm above the floor
    z = 0), heel x and heel y (m, world). Frames where the refinement held
    the heel point in contact are shaded.

    Args:
        model: body model posing the motions.
        truth: ground-truth motion.
        noisy: the refinement's input.
        refined: its output.
        contacts: [T, 4] contact flags used (left_heel, left_toe, right_heel, right_toe).
        path: image file to write (PNG).
        seconds: plot only the first ``seconds`` (all when None).
    """
    frames = len(truth) if seconds is None else min(len(truth), int(round(seconds * truth.fps)) + 1)
    time = np.arange(frames) / truth.fps
    feet = {}
    for label, motion in (("ground truth", truth), ("input", noisy), ("refined", refined)):
        part = motion.slice(0, frames)
        _, vertices = posed_body(model, part.global_orient, part.body_pose, part.betas, part.transl)
        feet[label] = {name: vertices[:, vid] for name, vid in FOOT_VERTEX_IDS.items()}  # [T, 3] each

    fig, axes = plt.subplots(4, 2, figsize=(13, 10), sharex=True)
    for column, side in enumerate(("left", "right")):
        heel_spans = _contact_spans(np.asarray(contacts)[:frames, 2 * column])
        rows = (
            (f"{side}_heel", 2, 1000.0, "heel height (mm)"),
            (f"{side}_toe", 2, 1000.0, "toe height (mm)"),
            (f"{side}_heel", 0, 1.0, "heel x (m)"),
            (f"{side}_heel", 1, 1.0, "heel y (m)"),
        )
        for row, (point, axis, scale, ylabel) in enumerate(rows):
            ax = axes[row, column]
            for start, stop in heel_spans:
                ax.axvspan(time[start], time[min(stop, frames) - 1], color="0.9", lw=0)
            for label, values in feet.items():
                color, dash, width = _STYLE[label]
                ax.plot(time, values[point][:, axis] * scale, color=color, ls=dash, lw=width, label=label)
            if axis == 2:
                ax.axhline(0.0, color="0.4", lw=0.6)
            ax.set_ylabel(ylabel)
        axes[0, column].set_title(f"{side} foot (grey: heel held in contact)")
        axes[-1, column].set_xlabel("time (s)")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    fig.suptitle("Physics refinement: foot trajectories before (input) and after (refined)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
