"""Label recorded sessions with the RGB teacher or a stored keypoint stream.

    python scripts/label_with_teacher.py session=walk.h5 checkpoint=checkpoints/teacher_compact_synthetic.pt
    python scripts/label_with_teacher.py 'session=data/*.h5' checkpoint=... run=hybrik_v1 smoothing.enabled=true
    python scripts/label_with_teacher.py session=mocap.h5 source=keypoints keypoints.stream=vicon
    torchrun --nproc_per_node=4 scripts/label_with_teacher.py 'session=data/*.h5' checkpoint=...

Configuration: ``configs/label_with_teacher.yaml``. Each rank (RANK /
WORLD_SIZE, or rank= / world_size=) owns whole sessions. Rerunning the same
command after a crash finishes the job with identical labels.
"""

from __future__ import annotations

import os

import hydra

import wavecap  # noqa: F401  (first: sets the OpenMP wait policy before torch loads)
import torch
from omegaconf import DictConfig

from wavecap.body import build_body_model
from wavecap.teacher.labeling import label_sessions


@hydra.main(version_base=None, config_path="../configs", config_name="label_with_teacher")
def main(cfg: DictConfig) -> None:
    torch.set_num_threads(int(cfg.threads))
    rank = int(cfg.rank if cfg.rank is not None else os.environ.get("RANK", 0))
    world_size = int(cfg.world_size if cfg.world_size is not None else os.environ.get("WORLD_SIZE", 1))
    body_model = build_body_model(cfg.body.source, cfg.body.gender, cfg.body.num_betas)
    for path, runs in label_sessions(cfg, body_model, rank, world_size).items():
        print(f"{path}: " + ", ".join(f"/labels/{run} ({clock})" for clock, run in runs.items()))


if __name__ == "__main__":
    main()
