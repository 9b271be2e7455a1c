"""Train or fine-tune the teacher on sessions with ground truth.

    python scripts/train_teacher.py 'sessions=outputs/teacher_data/train_*.h5' \
        eval_sessions=[outputs/teacher_data/heldout.h5] export=checkpoints/teacher_compact_synthetic.pt

Configuration: ``configs/train_teacher.yaml``. Crops are cut once into
``cache``; training resumes from ``state`` if it exists (rerun the same
command after an interruption). Held-out sessions are labelled with
``configs/label_with_teacher.yaml`` defaults and their errors printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra

import wavecap  # noqa: F401  (first: sets the OpenMP wait policy before torch loads)
import torch
from omegaconf import DictConfig, OmegaConf

from wavecap.body import build_body_model
from wavecap.teacher.checkpoint import load_checkpoint
from wavecap.teacher.evaluation import evaluate_camera_labels, label_config
from wavecap.teacher.labeling import label_sessions, resolve_sessions
from wavecap.teacher.network import build_teacher
from wavecap.teacher.training import export_weights, train
from wavecap.teacher.training_data import build_crop_cache


@hydra.main(version_base=None, config_path="../configs", config_name="train_teacher")
def main(cfg: DictConfig) -> None:
    torch.set_num_threads(int(cfg.threads))
    absolute = hydra.utils.to_absolute_path
    body_model = build_body_model(cfg.body.source, cfg.body.gender, cfg.body.num_betas)
    net = build_teacher(cfg.teacher)
    if cfg.init:
        load_checkpoint(net, absolute(cfg.init))
    for key in ("cache", "state"):
        Path(absolute(cfg[key])).parent.mkdir(parents=True, exist_ok=True)
    sessions = resolve_sessions([absolute(p) for p in OmegaConf.to_container(cfg.sessions)]
                                if OmegaConf.is_list(cfg.sessions) else absolute(cfg.sessions))
    cache = build_crop_cache(sessions, absolute(cfg.cache), body_model, net.input_size,
                             float(cfg.teacher.crop.scale_mult), float(cfg.train.margin), float(cfg.train.context),
                             bool(cfg.progress))
    losses = train(net, cache, cfg.train, absolute(cfg.state), bool(cfg.progress))
    print("final losses:", json.dumps({k: round(v, 5) for k, v in losses.items()}))
    if cfg.export:
        export_weights(net, absolute(cfg.export), bool(cfg.export_half))
        print(f"wrote {absolute(cfg.export)}")
    if cfg.eval_sessions and cfg.export:
        label_cfg = label_config({"session": [absolute(p) for p in cfg.eval_sessions], "checkpoint": absolute(cfg.export),
                                  "teacher": OmegaConf.to_container(cfg.teacher), "run": "train_eval",
                                  "restart": True, "progress": bool(cfg.progress)})
        for path, runs in label_sessions(label_cfg, body_model).items():
            print(f"held-out {path}:", json.dumps(evaluate_camera_labels(path, runs["camera"])))


if __name__ == "__main__":
    main()
