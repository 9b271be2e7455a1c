"""Estimate the radar's extrinsic and clock offset from a recording in which a person moves.

    python scripts/calibrate.py session=walk.h5
    python scripts/calibrate.py session=walk.h5 options.reference=/keypoints/kinect_v2 write=false

The radar point-cloud centres are aligned with the label stream's body centre,
then each detection with the reference body's surface in its resolution cell
when the reference has SMPL parameters (see ``wavecap.datasets.calibration``;
``body.source`` names their body model); the result is printed and written into
the session's ``/calibration`` group. Configuration: ``configs/calibrate.yaml``
with the options of ``configs/datasets/calibration.yaml`` under ``options.``.
"""

from __future__ import annotations

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from wavecap.body import build_body_model
from wavecap.datasets.calibration import CalibrationOptions, calibrate_session, write_calibration


@hydra.main(version_base=None, config_path="../configs", config_name="calibrate")
def main(cfg: DictConfig) -> None:
    path = hydra.utils.to_absolute_path(cfg.session)
    options = CalibrationOptions.from_dict(OmegaConf.to_container(cfg.options, resolve=True))
    body_model = build_body_model(cfg.body.source, cfg.body.gender, cfg.body.num_betas)
    result = calibrate_session(path, options, body_model)
    print(result.summary())
    if result.T_world_from_radar is not None:
        print("T_world_from_radar =\n" + np.array2string(result.T_world_from_radar, precision=5, suppress_small=True))
    if cfg.write:
        write_calibration(path, result, overwrite=bool(cfg.overwrite))
        print(f"wrote /calibration into {path}")


if __name__ == "__main__":
    main()
