"""Official HybrIK checkpoints load strictly; mismatches are named.

The reference state dict is built from the documented layout of
``Simple3DPoseBaseSMPLCam`` (torchvision ResNet-34 names under ``preact.``,
deconv indices 0/1/3/4/6/7, heads, buffers and HybrIK's ``smpl.*`` buffers),
not from :class:`HybrIKNet`, so the test checks the layout rather than
restating it. Big tensors are stride-0 expansions of one value, which
``torch.save`` stores as a single element: the files stay tiny.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from wavecap.errors import CheckpointError
from wavecap.teacher.checkpoint import load_checkpoint, read_state_dict
from wavecap.teacher.network import build_teacher

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "teacher"


def _bn(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    shapes = {f"{prefix}.{name}": (channels,) for name in ("weight", "bias", "running_mean", "running_var")}
    shapes[f"{prefix}.num_batches_tracked"] = ()
    return shapes


def official_r34_shapes() -> dict[str, tuple[int, ...]]:
    """Key -> shape of an official ResNet-34 cam checkpoint (reference section 3.2)."""
    shapes: dict[str, tuple[int, ...]] = {"preact.conv1.weight": (64, 3, 7, 7), **_bn("preact.bn1", 64)}
    inplanes = 64
    for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3)), start=1):
        for block in range(blocks):
            p = f"preact.layer{stage}.{block}"
            shapes[f"{p}.conv1.weight"] = (planes, inplanes, 3, 3)
            shapes.update(_bn(f"{p}.bn1", planes))
            shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            shapes.update(_bn(f"{p}.bn2", planes))
            if block == 0 and stage > 1:
                shapes[f"{p}.downsample.0.weight"] = (planes, inplanes, 1, 1)
                shapes.update(_bn(f"{p}.downsample.1", planes))
            inplanes = planes
    for conv, bn, in_ch in ((0, 1, 512), (3, 4, 256), (6, 7, 256)):
        shapes[f"deconv_layers.{conv}.weight"] = (in_ch, 256, 4, 4)
        shapes.update(_bn(f"deconv_layers.{bn}", 256))
    shapes.update({
        "final_layer.weight": (1856, 256, 1, 1), "final_layer.bias": (1856,),
        "fc1.weight": (1024, 512), "fc1.bias": (1024,), "fc2.weight": (1024, 1024), "fc2.bias": (1024,),
        "decshape.weight": (10, 1024), "decshape.bias": (10,), "decphi.weight": (46, 1024), "decphi.bias": (46,),
        "deccam.weight": (3, 1024), "deccam.bias": (3,), "decsigma.weight": (29, 1024), "decsigma.bias": (29,),
        "init_shape": (10,), "init_cam": (3,),
    })
    return shapes


SMPL_BUFFERS = {
    "smpl.faces_tensor": (13776, 3), "smpl.v_template": (6890, 3), "smpl.shapedirs": (6890, 3, 10),
    "smpl.posedirs": (207, 20670), "smpl.J_regressor": (24, 6890), "smpl.J_regressor_h36m": (17, 6890),
    "smpl.children_map": (29,), "smpl.parents": (29,), "smpl.lbs_weights": (6890, 24),
}


def official_state_dict() -> dict[str, torch.Tensor]:
    """A fake official checkpoint: right keys and shapes, recognisable values."""
    state = {}
    for n, (key, shape) in enumerate({**official_r34_shapes(), **SMPL_BUFFERS}.items()):
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        else:
            state[key] = torch.full((1,) * len(shape), float(n % 13) / 13).expand(shape)
    state["decphi.bias"] = torch.arange(46.0)
    state["init_cam"] = torch.tensor([0.8, 0.01, -0.02])
    return state


@pytest.fixture(scope="module")
def net():
    return build_teacher(OmegaConf.load(CONFIGS / "official_r34.yaml"))


def test_documented_layout_counts():
    shapes = official_r34_shapes()
    assert sum(k.startswith("preact.") for k in shapes) == 216
    assert sum(k.startswith("deconv_layers.") for k in shapes) == 18


@pytest.mark.parametrize("wrap", ["raw", "model", "module"])
def test_official_checkpoint_loads_strictly(net, tmp_path, wrap):
    state = official_state_dict()
    if wrap == "model":
        saved = {"model": state}
    elif wrap == "module":
        saved = {f"module.{k}": v for k, v in state.items()}
    else:
        saved = state
    path = tmp_path / "hybrik_res34.pth"
    torch.save(saved, path)
    info = load_checkpoint(net, path)
    assert set(info.dropped) == set(SMPL_BUFFERS)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.path == str(path)
    loaded = net.state_dict()
    torch.testing.assert_close(loaded["decphi.bias"], torch.arange(46.0))
    torch.testing.assert_close(loaded["init_cam"], torch.tensor([0.8, 0.01, -0.02]))
    torch.testing.assert_close(loaded["fc2.weight"], state["fc2.weight"].contiguous())
    assert int(loaded["preact.bn1.num_batches_tracked"]) == 7


def test_missing_num_batches_tracked_is_tolerated(net):
    state = {k: v for k, v in official_state_dict().items() if not k.endswith("num_batches_tracked")}
    load_checkpoint(net, state)
    torch.testing.assert_close(net.state_dict()["decphi.bias"], torch.arange(46.0))


def test_shape_mismatch_is_named(net, tmp_path):
    state = official_state_dict()
    state["fc1.weight"] = torch.zeros(1024, 256)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"fc1\.weight \(1024, 256\) vs model \(1024, 512\)"):
        load_checkpoint(net, path)


def test_missing_and_unexpected_keys_are_named(net):
    state = official_state_dict()
    del state["decsigma.bias"]
    del state["preact.layer3.5.bn2.running_var"]
    state["decleaf.weight"] = torch.zeros(20, 1024)  # paper-version head
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(net, state)
    message = str(err.value)
    for key in ("decsigma.bias", "preact.layer3.5.bn2.running_var", "decleaf.weight"):
        assert key in message
    assert "missing (2)" in message and "unexpected (1)" in message


def test_unreadable_or_foreign_files_raise(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        read_state_dict(garbage)
    config_inside = tmp_path / "cfg.pth"
    torch.save({"model": {"fc1.weight": torch.zeros(2)}, "epoch": 3}, config_inside)
    assert set(read_state_dict(config_inside)) == {"fc1.weight"}
    with pytest.raises(CheckpointError, match="not tensors"):
        load_checkpoint(torch.nn.Linear(2, 2), {"weight": torch.zeros(2, 2), "bias": [0.0, 0.0]})
    with pytest.raises(CheckpointError, match="cannot read"):
        read_state_dict(tmp_path / "absent.pth")


def test_own_checkpoint_round_trip(tmp_path):
    cfg = OmegaConf.load(CONFIGS / "compact.yaml")
    torch.manual_seed(0)
    source = build_teacher(cfg).eval()
    path = tmp_path / "compact.pth"
    torch.save({"model": source.state_dict()}, path)
    torch.manual_seed(1)
    target = build_teacher(cfg).eval()
    load_checkpoint(target, path)
    x = torch.randn(1, 3, source.input_size, source.input_size)
    with torch.inference_mode():
        torch.testing.assert_close(target(x).xyz29, source(x).xyz29, rtol=0, atol=0)
