"""Radar student: frame encoders, Performer temporal model, heads, training and inference.

Modules:
    encoders: per-frame encoders (point sets, heatmaps, features) and the
        :class:`RadarFrames` input batch.
    temporal: the temporal adapter (Performer / exact attention); the only
        importer of performer_pytorch.
    heads, model: output heads and the composed :class:`RadarStudent`.
    streaming: frame-by-frame causal inference as a recurrence.
    losses, targets: distillation losses and label-derived targets.
    labels: per-radar-frame SMPL labels (teacher runs, ground truth as labels,
        frame changes of SMPL parameters).
    data: session windows, leak-free splits, radar augmentations.
    training: the distillation loop (scripts/train_student.py; DDP, resumable).
    inference: offline (full / sliding-window) and streaming inference
        (scripts/infer_student.py).
    evaluation: predictions vs ground truth (scripts/evaluate.py; metrics in
        wavecap.metrics).
"""

from wavecap.student.encoders import (
    FeatureEncoder,
    HeatmapEncoder,
    PointSetEncoder,
    RadarFrames,
    build_encoder,
    pad_points,
    select_columns,
)
from wavecap.student.heads import CONTACT_NAMES
from wavecap.student.losses import DEFAULT_WEIGHTS, StudentTargets, student_loss
from wavecap.student.model import RadarStudent, StudentOutput, build_student
from wavecap.student.streaming import StreamingStudent
from wavecap.student.targets import label_contacts
from wavecap.student.temporal import TemporalModel

__all__ = [
    "CONTACT_NAMES", "DEFAULT_WEIGHTS", "FeatureEncoder", "HeatmapEncoder", "PointSetEncoder", "RadarFrames",
    "RadarStudent", "StreamingStudent", "StudentOutput", "StudentTargets", "TemporalModel", "build_encoder",
    "build_student", "label_contacts", "pad_points", "select_columns", "student_loss",
]
