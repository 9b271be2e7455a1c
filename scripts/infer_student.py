"""Run a trained radar student on a capture.

    python scripts/infer_student.py session=capture.h5 checkpoint=outputs/student/best.pt out=pred.h5
    python scripts/infer_student.py ... mode=window window=512 overlap=128 physics=refine

Writes the SMPL sequence (radar frame and world), joints, contact
probabilities and uncertainty to ``out`` (HDF5) and the world-frame motion to
an AMASS-style ``.npz`` (``npz``, default next to ``out``). ``physics=refine``
adds the physics refinement (``configs/physics/refine.yaml``). Configuration:
``configs/infer_student.yaml``.
"""

from __future__ import annotations

import hydra

import wavecap  # noqa: F401  (first: sets the OpenMP wait policy before torch loads)
import torch
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from wavecap.body import build_body_model
from wavecap.student.inference import infer_session


@hydra.main(version_base=None, config_path="../configs", config_name="infer_student")
def main(cfg: DictConfig) -> None:
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    out = to_absolute_path(cfg.out)
    physics = cfg.get("physics")  # the selected configs/physics/<name>.yaml, or None
    npz = to_absolute_path(cfg.npz) if cfg.npz else str(out).rsplit(".", 1)[0] + ".npz"
    result = infer_session(
        to_absolute_path(cfg.session), to_absolute_path(cfg.checkpoint),
        build_body_model(cfg.body.source, cfg.body.gender, cfg.body.num_betas), out_h5=out, out_npz=npz,
        mode=str(cfg.mode), window=int(cfg.window), overlap=int(cfg.overlap), physics=physics is not None,
        physics_config=None if physics is None else OmegaConf.to_container(physics, resolve=True),
    )
    print(f"wrote {out} and {npz}: {len(result['timestamps'])} frames")


if __name__ == "__main__":
    main()
