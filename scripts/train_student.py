"""Distil the radar student from teacher labels.

    python scripts/train_student.py sessions=[s1.h5,s2.h5,s3.h5] out_dir=outputs/student
    torchrun --nproc_per_node=2 scripts/train_student.py sessions=[...]   # DDP, gloo on CPU

Configuration: ``configs/train_student.yaml``; resumes from ``out_dir/last.pt``.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from wavecap.student.training import train


@hydra.main(version_base=None, config_path="../configs", config_name="train_student")
def main(cfg: DictConfig) -> None:
    summary = train(cfg)
    print(" ".join(f"{k}={v:.4g}" for k, v in summary.items()))


if __name__ == "__main__":
    main()
