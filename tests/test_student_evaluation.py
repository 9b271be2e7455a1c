"""Student evaluation: scoring a prediction only on the frames a label run marks valid."""

from __future__ import annotations

import pytest

from student_fixtures import simulate
from wavecap.datasets import LabelWriter, open_session
from wavecap.student.evaluation import evaluate
from wavecap.student.labels import LABEL_FIELDS, LabelSequence, ground_truth_as_labels

pytestmark = pytest.mark.usefixtures("one_thread")


def _write_run(path, run: str, labels: LabelSequence) -> None:
    """``labels`` as ``/labels/<run>`` on the radar timebase (world frame), as the teacher writes runs."""
    dtypes = {name: "bool" if name == "valid" else "float32" for name in LABEL_FIELDS}
    fields = {name: (shape, dtypes[name]) for name, shape in LABEL_FIELDS.items()}
    values = labels.fields()
    with LabelWriter(path, run, fields=fields, chunk_size=16, metadata={"frame": labels.frame}) as writer:
        for start, stop in writer.remaining():
            writer.write(start, stop, {name: v[start:stop] for name, v in values.items()})


def test_valid_run_scores_on_the_frames_that_run_labelled(tmp_path, body):
    session = simulate(tmp_path / "s.h5", seed=3, seconds=2.5)
    with open_session(session) as s:
        gt = ground_truth_as_labels(s, body, frame="world")
    frames = len(gt)
    gaps = gt.valid.copy()
    gaps[10:20] = False  # a teacher that lost the person for ten frames
    _write_run(session, "with_gaps", LabelSequence(**{**gt.fields(), "valid": gaps, "frame": "world"}))
    # every frame valid, but the pose is garbage on the frames the other run left out
    joints = gt.joints29.copy()
    joints[10:20] = joints[10:20, ::-1]  # joints in reverse order: a wrong pose, not a similarity transform
    _write_run(session, "wrong_in_gaps", LabelSequence(**{**gt.fields(), "joints29": joints, "frame": "world"}))

    teacher = evaluate(str(session), str(session), body, pred_run="with_gaps")
    assert len(teacher["times"]) == int(gaps.sum()) == frames - 10
    assert teacher["overall"]["pa_mpjpe_mm"] < 1e-2  # the ground truth itself

    everywhere = evaluate(str(session), str(session), body, pred_run="wrong_in_gaps")
    same_frames = evaluate(str(session), str(session), body, pred_run="wrong_in_gaps", valid_run="with_gaps")
    assert len(everywhere["times"]) == frames and everywhere["overall"]["pa_mpjpe_mm"] > 20
    assert same_frames["times"] == teacher["times"]
    assert same_frames["overall"]["pa_mpjpe_mm"] < 1e-2

