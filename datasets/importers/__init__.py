"""Importers: other tools' recordings in, validated WaveCap sessions out.

``scripts/import_capture.py format=<name> out=session.h5 ...`` calls
:func:`import_capture`. Every importer writes the session atomically plus a
JSON validation report beside it (``<session>.import.json``: frames, points
per frame, empty frames, rows dropped, timestamp gaps, units and conventions
assumed), refuses what it cannot interpret with a ``DataError`` naming file,
line/frame and column, and never modifies its inputs.

============  ==================================================================
format        input
============  ==================================================================
``ti_csv``    TI point CSV (+ keypoint CSV, + images or video): :func:`import_ti_csv`
``mmfi``      MM-Fi sequence folder: :func:`import_mmfi`
``mmbody``    mmBody sequence folder: :func:`import_mmbody`
``images``    image folder (camera only): :func:`import_images`
``video``     video file (camera only, needs the ``video`` extra): :func:`import_video`
============  ==================================================================
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

from .camera import import_images, import_video
from .mmbody import import_mmbody
from .mmfi import import_mmfi
from .options import CameraOptions, KeypointOptions, RadarOptions
from .report import ImportReport, report_path
from .ti_capture import import_ti_csv

IMPORTERS: dict[str, Callable[..., ImportReport]] = {
    "ti_csv": import_ti_csv,
    "mmfi": import_mmfi,
    "mmbody": import_mmbody,
    "images": import_images,
    "video": import_video,
}
# The positional input each format reads, as named in the config.
INPUT_KEYS = {"ti_csv": "radar", "mmfi": "sequence", "mmbody": "sequence", "images": "images", "video": "video"}
INPUTS = ("radar", "keypoints", "skeleton", "sequence", "images", "video")


def import_capture(format: str, out: str | os.PathLike[str], **options: Any) -> ImportReport:  # noqa: A002
    """Run the importer of ``format`` with the options it takes.

    Args:
        format: one of ``IMPORTERS``.
        out: session file to write.
        options: inputs (``radar``, ``keypoints``, ``skeleton``, ``sequence``,
            ``images``, ``video``), option objects (``radar_options``, ...)
            and writer settings. An input the format does not take must be
            None; other settings it does not take are ignored.

    Returns:
        The importer's report.
    """
    if format not in IMPORTERS:
        raise ValueError(f"unknown format {format!r}; known: {', '.join(IMPORTERS)}")
    importer = IMPORTERS[format]
    accepted = inspect.signature(importer).parameters
    key = INPUT_KEYS[format]
    source = options.pop(key, None)
    if not source:
        raise ValueError(f"format={format} needs {key}=PATH")
    # An input the format cannot use is a mistake worth stopping for; settings
    # (option groups, writer flags) that it does not use are simply not passed.
    unused = sorted(k for k in INPUTS if options.get(k) is not None and k not in accepted)
    if unused:
        raise ValueError(f"format={format} does not take {unused}")
    return importer(source, out, **{k: v for k, v in options.items() if k in accepted})


__all__ = [
    "IMPORTERS",
    "CameraOptions",
    "ImportReport",
    "KeypointOptions",
    "RadarOptions",
    "import_capture",
    "import_images",
    "import_mmbody",
    "import_mmfi",
    "import_ti_csv",
    "import_video",
    "report_path",
]
