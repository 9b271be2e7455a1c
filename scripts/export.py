"""Export a motion to BVH / AMASS ``.npz`` and the offline student to ONNX.

    python scripts/export.py motion=outputs/demo/heldout_refined.npz bvh=refined.bvh npz=refined_amass.npz
    python scripts/export.py checkpoint=outputs/demo/student/best.pt session=outputs/demo/sessions/heldout.h5 onnx=student.onnx

ONNX needs the optional extra: ``pip install -e ".[export]"``. The exported
graph is run with onnxruntime on the session and its largest deviation from
torch is printed. Configuration: ``configs/export.yaml``.
"""

from __future__ import annotations

import hydra
import numpy as np
from hydra.utils import to_absolute_path
from omegaconf import DictConfig

from wavecap.body import build_body_model
from wavecap.datasets import open_session
from wavecap.datasets.motion import load_amass_npz, save_amass_npz
from wavecap.exports import write_bvh


@hydra.main(version_base=None, config_path="../configs", config_name="export")
def main(cfg: DictConfig) -> None:
    if cfg.motion:
        motion = load_amass_npz(to_absolute_path(cfg.motion))
        if cfg.bvh:
            write_bvh(motion, build_body_model(cfg.body.source, cfg.body.gender, cfg.body.num_betas),
                      to_absolute_path(cfg.bvh), float(cfg.bvh_scale))
            print(f"wrote {to_absolute_path(cfg.bvh)}: {len(motion)} frames at {motion.fps:g} fps")
        if cfg.npz:
            save_amass_npz(motion, to_absolute_path(cfg.npz), columns=72)
            print(f"wrote {to_absolute_path(cfg.npz)}")
    if cfg.onnx:
        from wavecap.exports.student_onnx import OUTPUT_NAMES, export_student_onnx, run_onnx
        from wavecap.student.data import read_radar
        from wavecap.student.inference import predict
        from wavecap.student.training import model_from_checkpoint

        model = model_from_checkpoint(to_absolute_path(cfg.checkpoint))
        with open_session(to_absolute_path(cfg.session)) as session:
            points, mask = read_radar(session, model.encoder.columns, model.encoder.max_points)
        path = export_student_onnx(model, points, mask, to_absolute_path(cfg.onnx), int(cfg.opset))
        ours, theirs = predict(model, points, mask), run_onnx(path, points, mask)
        diff = max(float(np.abs(theirs[k][0] - ours[k]).max()) for k in OUTPUT_NAMES)
        print(f"wrote {path}: {len(points)} frames; max |onnxruntime - torch| = {diff:.2e}")


if __name__ == "__main__":
    main()
