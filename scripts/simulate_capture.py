"""Write a synthetic synchronized RGB + radar session with ground truth.

    python scripts/simulate_capture.py out=sim.h5 seconds=20 motions=[squat,lunge_left] seed=3

Configuration: ``configs/simulate_capture.yaml`` (output options) on top of
``configs/datasets/simulator.yaml`` (camera, radar, clocks, scene, subject,
motions); any key can be overridden as ``key=value``.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from wavecap.body import build_body_model
from wavecap.datasets.sim.capture import SimulatorConfig, SyntheticCapture, write_session


@hydra.main(version_base=None, config_path="../configs", config_name="simulate_capture")
def main(cfg: DictConfig) -> None:
    body_model = build_body_model(cfg.body.source, cfg.body.gender, cfg.body.num_betas)
    out = hydra.utils.to_absolute_path(cfg.out)
    with SyntheticCapture(SimulatorConfig.from_dict(cfg), body_model) as capture:
        write_session(capture, out, overwrite=bool(cfg.overwrite), compression=cfg.compression,
                      progress=bool(cfg.progress))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
