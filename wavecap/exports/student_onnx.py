"""The offline (bidirectional) radar student as an ONNX graph.

The graph takes one capture's padded radar points and returns the student's
per-frame outputs, exactly what :func:`wavecap.student.inference.predict`
(``mode="full"``) computes before FK:

inputs
    ``points`` [1, T, N, C] float32 (encoder columns, radar frame, metres),
    ``point_mask`` [1, T, N] bool.
outputs
    ``rotmats`` [1, T, 24, 3, 3] local SMPL rotations (root in the label
    frame), ``betas`` [1, T, 10], ``transl`` [1, T, 3] (m),
    ``contact_logits`` [1, T, 4], ``joint_log_scale`` [1, T, 24].

The graph is traced for the frame count T of the example input (the encoder
runs in chunks of ``encode_chunk_frames`` frames, a Python loop over T), so
export once per capture length, or pad captures to the exported T with
``point_mask`` False. N is the checkpoint's ``max_points``. FAVOR+ feature
projections are fixed (eval mode), so the graph is deterministic.
Needs the optional ``export`` extra (``pip install -e ".[export]"``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from wavecap.student.encoders import RadarFrames
from wavecap.student.model import RadarStudent

OUTPUT_NAMES = ("rotmats", "betas", "transl", "contact_logits", "joint_log_scale")


class OfflineStudentGraph(nn.Module):
    """Tensor-in, tensor-out wrapper of a :class:`RadarStudent` (what ONNX can trace)."""

    def __init__(self, model: RadarStudent) -> None:
        super().__init__()
        self.model = model.eval()

    def forward(self, points: torch.Tensor, point_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """See the module docstring for shapes."""
        frame_mask = torch.ones(points.shape[:2], dtype=torch.bool)  # [1, T] one whole capture
        out = self.model(RadarFrames(frame_mask, points, point_mask))
        return tuple(getattr(out, name) for name in OUTPUT_NAMES)


def export_student_onnx(model: RadarStudent, points: np.ndarray, point_mask: np.ndarray,
                        path: str | os.PathLike[str], opset: int = 18) -> Path:
    """Trace the offline student on one capture's radar and write ``path`` (.onnx).

    Args:
        model: the offline student (``causal=False``), any mode; put in eval mode.
        points: [T, N, C] padded points of the example capture.
        point_mask: [T, N] bool.
        path: output file.
        opset: ONNX opset.

    Returns:
        The written path.
    """
    if model.causal:
        raise ValueError("export the offline (bidirectional) student; streaming uses StreamingPredictor")
    graph = OfflineStudentGraph(model)
    example = (torch.from_numpy(np.ascontiguousarray(points, np.float32))[None],
               torch.from_numpy(np.asarray(point_mask, bool))[None])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The TorchScript exporter traces; its warnings are the shape checks that are constant for a fixed T,
    # which is what the docstring promises. (The torch.export-based exporter would need onnxscript too.)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(graph, example, str(path), input_names=["points", "point_mask"],
                          output_names=list(OUTPUT_NAMES), opset_version=opset, dynamo=False)
    return path


def run_onnx(path: str | os.PathLike[str], points: np.ndarray, point_mask: np.ndarray) -> dict[str, np.ndarray]:
    """Run an exported student with onnxruntime (CPU); outputs by name, batch dimension kept."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"points": np.ascontiguousarray(points, np.float32)[None], "point_mask": np.asarray(point_mask, bool)[None]}
    return dict(zip(OUTPUT_NAMES, session.run(list(OUTPUT_NAMES), feeds)))
