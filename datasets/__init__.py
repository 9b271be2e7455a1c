"""Recorded sessions: one versioned HDF5 format for real captures and the simulator.

See ``docs/session_format.md`` for the schema; ``session_schema`` states it as data.
"""

from __future__ import annotations

from .label_writer import LabelWriter
from .session_labels import LabelRun
from .session_reader import Session, open_session
from .session_schema import SCHEMA_VERSION
from .session_streams import CameraStream, Frame, GroundTruth, KeypointStream, RadarStream, RadarTruth
from .session_validate import ValidationReport, validate_session
from .session_writer import SessionWriter

__all__ = [
    "SCHEMA_VERSION",
    "CameraStream",
    "Frame",
    "GroundTruth",
    "KeypointStream",
    "LabelRun",
    "LabelWriter",
    "RadarStream",
    "RadarTruth",
    "Session",
    "SessionWriter",
    "ValidationReport",
    "open_session",
    "validate_session",
]
