"""Refine a motion with PD-controlled physics; write the refined motion and diagnostics.

    python scripts/refine_physics.py input=walk.npz out=walk_refined.npz
    python scripts/refine_physics.py input=session.h5 group=labels/student_v1 out=refined.npz floor_z=0.0

Configuration: ``configs/refine_physics.yaml`` on top of ``configs/physics/refine.yaml``
(as ``physics.*``, e.g. ``physics.substeps=8``).
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from wavecap.body import build_body_model
from wavecap.datasets.motion import save_amass_npz
from wavecap.physics.motion_io import load_motion
from wavecap.physics.refine import refine_motion


@hydra.main(version_base=None, config_path="../configs", config_name="refine_physics")
def main(cfg: DictConfig) -> None:
    motion, contacts = load_motion(hydra.utils.to_absolute_path(cfg.input), cfg.group)
    refined, diagnostics = refine_motion(
        motion, contacts=contacts if cfg.use_contacts else None, config=OmegaConf.to_container(cfg.physics),
        floor_z=cfg.floor_z, body_model=build_body_model(cfg.body.source, cfg.body.gender, cfg.body.num_betas))
    out = Path(hydra.utils.to_absolute_path(cfg.out))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_amass_npz(refined, out, columns=72)
    report = Path(hydra.utils.to_absolute_path(cfg.diagnostics)) if cfg.diagnostics else out.with_suffix(".json")
    report.write_text(json.dumps(diagnostics.to_dict()) + "\n")
    print(json.dumps({"out": str(out), "diagnostics": str(report), **diagnostics.summary()}, indent=2))


if __name__ == "__main__":
    main()
