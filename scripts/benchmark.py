"""Measure WaveCap's speed and accuracy figures; print one JSON object.

    python scripts/benchmark.py                 # every section
    python scripts/benchmark.py section=body    # one section

The JSON is also written to ``<out_dir>/<section>.json``. Figures are
measured in this run, never copied: ratios compare against a peer measured
in the same run because shared machines are noisy.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import hydra

import wavecap  # noqa: F401  (first: sets the OpenMP wait policy before torch loads)
import torch
from omegaconf import DictConfig

from wavecap.benchmarks import SECTIONS, section_runner
from wavecap.benchmarks.timing import machine_info


@hydra.main(version_base=None, config_path="../configs", config_name="benchmark")
def main(cfg: DictConfig) -> dict:
    torch.set_num_threads(int(cfg.threads))
    torch.manual_seed(int(cfg.seed))
    names = SECTIONS if cfg.section == "all" else tuple(str(cfg.section).split(","))
    result: dict = {"section": str(cfg.section), "date": time.strftime("%Y-%m-%dT%H:%M:%S"), **machine_info()}
    for name in names:
        start = time.perf_counter()
        result.update(section_runner(name)(cfg))
        result[f"{name}.bench_seconds"] = round(time.perf_counter() - start, 2)
    out_dir = Path(hydra.utils.to_absolute_path(cfg.out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{cfg.section}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
