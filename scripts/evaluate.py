"""Score predicted motion against a session's ground truth.

    python scripts/evaluate.py pred=pred.h5 gt=capture.h5 out=outputs/eval
    python scripts/evaluate.py pred=capture.h5 pred_run=teacher gt=capture.h5   # score a label run

MPJPE, PA-MPJPE, per-axis MAE, PCK3D, accel error and jitter (units and
alignments in ``wavecap/metrics.py``), per joint and overall, in the world
frame; writes ``metrics.json`` and plots. Configuration: ``configs/evaluate.yaml``.
"""

from __future__ import annotations

import hydra
from hydra.utils import to_absolute_path
from omegaconf import DictConfig

from wavecap.body import build_body_model
from wavecap.student.evaluation import evaluate, write_report


@hydra.main(version_base=None, config_path="../configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    result = evaluate(to_absolute_path(cfg.pred), to_absolute_path(cfg.gt),
                      build_body_model(cfg.body.source, cfg.body.gender, cfg.body.num_betas),
                      pred_run=cfg.pred_run, joints=int(cfg.joints), pck_threshold_mm=float(cfg.pck_threshold_mm))
    write_report(result, to_absolute_path(cfg.out), bool(cfg.plots))
    print(" ".join(f"{k}={v:.4g}" for k, v in result["overall"].items()))


if __name__ == "__main__":
    main()
