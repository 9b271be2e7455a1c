"""Teacher training: targets invert the decoding, a tiny model learns, checkpoints resume exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from wavecap.body import build_body_model
from wavecap.datasets.sim.capture import SimulatorConfig, SyntheticCapture, write_session
from wavecap.geometry import project_points
from wavecap.teacher.crop import uvd_to_image
from wavecap.teacher.labeling import decode_with_intrinsics
from wavecap.teacher.network import HybrIKNet
from wavecap.teacher.training import LossWeights, make_batch, teacher_losses, train
from wavecap.teacher.training_data import build_crop_cache

REPO = Path(__file__).resolve().parent.parent
SIM = {"seconds": 1.5, "seed": 21, "motions": ["arm_raise"], "camera": {"width": 96, "height": 72, "fps": 15.0},
       "radar": {"frame_rate_hz": 5.0}}
TINY_NET = {"depth": 18, "layers": (1, 1, 1, 1), "widths": (8, 16, 32, 64), "input_size": 64, "deconv_channels": 32,
            "depth_bins": 16, "hidden": 64, "dropout": 0.1, "focal_length": 250.0, "joints_per_chunk": 29}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> dict[str, torch.Tensor]:
    body = build_body_model("stand-in")
    base = OmegaConf.load(REPO / "configs/datasets/simulator.yaml")
    base.pop("defaults")
    cfg = OmegaConf.merge(base, {"radar": OmegaConf.load(REPO / "configs/datasets/radar/iwr6843.yaml")}, SIM)
    folder = tmp_path_factory.mktemp("train")
    with SyntheticCapture(SimulatorConfig.from_dict(cfg), body) as capture:
        write_session(capture, str(folder / "s.h5"), progress=False)
    return build_crop_cache([str(folder / "s.h5")], str(folder / "cache.pt"), body, TINY_NET["input_size"],
                            progress=False)


def train_cfg(steps: int, **extra: object) -> dict:
    cfg = OmegaConf.load(REPO / "configs/train_teacher.yaml").train
    return OmegaConf.merge(cfg, {"steps": steps, "batch_size": 8, "lr": 3e-3, "save_every": 1000, **extra})


def test_targets_invert_the_labeling_decoder(cache):
    """uvd and scale targets decode (with the session intrinsics) back to the ground-truth joints."""
    cfg = train_cfg(1)
    index = torch.arange(0, cache["crops"].shape[0], 5)
    gen = torch.Generator().manual_seed(0)
    batch = make_batch(cache, index, gen, cfg, 64, 2.2, augment=False)
    net = HybrIKNet(**TINY_NET)
    side = (cache["boxes"][index, 2] - cache["boxes"][index, 0]) / float(cfg.context)
    centre = (cache["boxes"][index, :2] + cache["boxes"][index, 2:]) / 2
    square = torch.cat([centre - side[:, None] / 2, centre + side[:, None] / 2], dim=1)
    K = cache["K"][0]
    cam = torch.stack([batch["scale"], torch.zeros_like(side), torch.zeros_like(side)], dim=1)
    xyz, root = decode_with_intrinsics(batch["uvd"], cam, square, K, net)
    joints = cache["joints29"][index]
    torch.testing.assert_close(root, joints[:, 0], atol=1e-4, rtol=0)
    torch.testing.assert_close(xyz, joints - joints[:, :1], atol=1e-4, rtol=0)
    uv, _ = project_points(joints, K)
    torch.testing.assert_close(uvd_to_image(batch["uvd"], square), uv, atol=1e-3, rtol=0)


def _uvd_error(net: HybrIKNet, cache: dict[str, torch.Tensor]) -> float:
    gen = torch.Generator().manual_seed(1)
    batch = make_batch(cache, torch.arange(cache["crops"].shape[0]), gen, train_cfg(1), 64, 2.2, augment=False)
    with torch.no_grad():
        out = net.eval()(batch["images"])
    return float(teacher_losses(out, batch["uvd"], batch["phi"], batch["betas"], batch["scale"], LossWeights())["uvd"])


def test_tiny_model_beats_its_untrained_self(cache):
    torch.manual_seed(0)
    net = HybrIKNet(**TINY_NET)
    before = _uvd_error(net, cache)
    train(net, cache, train_cfg(60), progress=False)
    after = _uvd_error(net, cache)
    assert after < 0.7 * before


def test_resumed_training_continues_identically(cache, tmp_path):
    torch.manual_seed(0)
    straight = HybrIKNet(**TINY_NET)
    initial = {k: v.clone() for k, v in straight.state_dict().items()}
    train(straight, cache, train_cfg(6), progress=False)

    resumed = HybrIKNet(**TINY_NET)
    resumed.load_state_dict(initial)
    state = tmp_path / "state.pt"
    train(resumed, cache, train_cfg(6), state_path=str(state), progress=False, stop_after=3)
    torch.manual_seed(123)  # the checkpoint, not the caller, decides the RNG
    fresh = HybrIKNet(**TINY_NET)
    train(fresh, cache, train_cfg(6), state_path=str(state), progress=False)
    assert torch.load(state, weights_only=True)["step"] == 6
    for key, value in straight.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value, atol=0, rtol=0, msg=key)
