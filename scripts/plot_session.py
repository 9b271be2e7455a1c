"""Draw one frame of a session: RGB with the projected skeleton, radar views with the skeleton.

    python scripts/plot_session.py session=sim.h5 frame=120 out=frame.png

``frame`` is a camera frame index; the radar frame and ground-truth samples
nearest in time are used (see ``wavecap.datasets.session_plot``).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from wavecap.datasets import open_session
from wavecap.datasets.session_plot import plot_session_frame


@hydra.main(version_base=None, config_path="../configs", config_name="plot_session")
def main(cfg: DictConfig) -> None:
    out = hydra.utils.to_absolute_path(cfg.out)
    with open_session(hydra.utils.to_absolute_path(cfg.session)) as session:
        info = plot_session_frame(session, int(cfg.frame), out)
    print(f"wrote {out}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items()))


if __name__ == "__main__":
    main()
