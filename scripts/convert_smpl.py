"""Convert an official SMPL pickle (chumpy inside) into a plain .npz.

    python scripts/convert_smpl.py src=basicModel_neutral_lbs_10_207_0_v1.0.0.pkl dst=SMPL_NEUTRAL.npz

chumpy need not be installed. The source file is only read. Point
``body.source`` at the result (or its folder) to use real SMPL everywhere.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from wavecap.body.smpl_files import convert_smpl_pickle


@hydra.main(version_base=None, config_path="../configs", config_name="convert_smpl")
def main(cfg: DictConfig) -> None:
    if not cfg.src or not cfg.dst:
        raise SystemExit("usage: convert_smpl.py src=MODEL.pkl dst=MODEL.npz")
    written = convert_smpl_pickle(hydra.utils.to_absolute_path(cfg.src), hydra.utils.to_absolute_path(cfg.dst))
    print(f"wrote {written}")


if __name__ == "__main__":
    main()
