"""Import another tool's recording as a validated WaveCap session.

    python scripts/import_capture.py format=ti_csv radar=points.csv keypoints=kinect.csv skeleton=kinect_v2 out=s.h5
    python scripts/import_capture.py format=mmfi sequence=MMFi/E01/S01/A01 out=s.h5
    python scripts/import_capture.py format=mmbody sequence=mmBody/train/sequence_2 out=s.h5
    python scripts/import_capture.py format=video video=clip.mp4 out=s.h5

Configuration: ``configs/import_capture.yaml`` on top of
``configs/datasets/importers.yaml``. The validation report is printed and
written to ``<out>.import.json``.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from wavecap.datasets.importers import CameraOptions, KeypointOptions, RadarOptions, import_capture, report_path


@hydra.main(version_base=None, config_path="../configs", config_name="import_capture")
def main(cfg: DictConfig) -> None:
    def path(key: str) -> str | None:
        return None if cfg[key] is None else hydra.utils.to_absolute_path(str(cfg[key]))

    def options(key: str) -> dict:
        return OmegaConf.to_container(cfg[key], resolve=True)

    out = hydra.utils.to_absolute_path(cfg.out)
    report = import_capture(
        cfg.format, out,
        radar=path("radar"), keypoints=path("keypoints"), skeleton=cfg.skeleton, sequence=path("sequence"),
        images=path("images"), video=path("video"),
        radar_options=RadarOptions.from_dict(options("radar_options")),
        keypoint_options=KeypointOptions.from_dict(options("keypoint_options")),
        camera_options=CameraOptions.from_dict(options("camera_options")),
        overwrite=bool(cfg.overwrite), compression=cfg.compression, validate=cfg.validate,
        progress=bool(cfg.progress),
    )
    print(report.summary())
    print(f"report: {report_path(out)}")


if __name__ == "__main__":
    main()
