"""The main job end to end (``scripts/demo.py``): synthetic captures, teacher labels,
radar student, physics, evaluation and report. See :func:`run_demo`."""

from wavecap.demo.pipeline import run_demo, run_folder

__all__ = ["run_demo", "run_folder"]
