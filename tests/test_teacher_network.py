"""HybrIK network: layout, soft-argmax, uvd -> camera decoding, pose bridge."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from wavecap.benchmarks.teacher import count_macs
from wavecap.body import build_body_model
from wavecap.geometry.camera import intrinsics_matrix, project_points
from wavecap.geometry.rotations import axis_angle_to_matrix, random_rotation_matrix
from wavecap.teacher.crop import uvd_to_image
from wavecap.teacher.ik import twist_angles
from wavecap.teacher.network import (
    HybrIKNet,
    TeacherOutput,
    VolumeLayer,
    build_teacher,
    fuse_for_inference,
    soft_argmax_3d,
    uvd_to_camera,
)
from wavecap.teacher.pose import pose_from_output

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "teacher"


def _config(name: str):
    return OmegaConf.load(CONFIGS / f"{name}.yaml")


@pytest.fixture(scope="module")
def compact():
    torch.manual_seed(0)
    return build_teacher(_config("compact")).eval()


def test_official_config_has_the_official_layout():
    net = build_teacher(_config("official_r34"))
    state = net.state_dict()
    backbone = [k for k in state if k.startswith("preact.")]
    assert len(backbone) == 216
    assert sum(state[k].numel() for k in backbone) == pytest.approx(21.3e6, rel=0.01)
    assert sorted({k.split(".")[1] for k in state if k.startswith("deconv_layers.")}) == ["0", "1", "3", "4", "6", "7"]
    assert state["final_layer.weight"].shape == (1856, 256, 1, 1)
    assert state["fc1.weight"].shape == (1024, 512)
    assert state["decphi.weight"].shape == (46, 1024)
    assert state["init_cam"].tolist() == pytest.approx([0.9, 0.0, 0.0])
    params = sum(p.numel() for p in net.parameters())
    assert params == pytest.approx(27.62e6, rel=0.002)


def test_official_r34_forward_batch1():
    torch.manual_seed(1)
    net = build_teacher(_config("official_r34")).eval()
    # A camera head that predicts no change leaves init_cam: scale 0.9, so
    # the root sits f / (256 * 0.9) = 4.34 m (+ its own d) from the camera.
    torch.nn.init.zeros_(net.deccam.weight)
    torch.nn.init.zeros_(net.deccam.bias)
    x = torch.randn(1, 3, 256, 256)
    # The reference's census: ~8.2 GMAC for backbone + deconv + final layer.
    assert count_macs(net, x) / 1e9 == pytest.approx(8.2, abs=0.05)
    with torch.inference_mode():
        out = net(x)
    assert out.uvd.shape == (1, 29, 3) and out.xyz29.shape == (1, 29, 3)
    assert out.phi.shape == (1, 23, 2) and out.betas.shape == (1, 10)
    torch.testing.assert_close(out.cam, torch.tensor([[0.9, 0.0, 0.0]]))
    expected_z = out.uvd[0, 0, 2] * 2.2 + 1000 / (256 * 0.9)
    torch.testing.assert_close(out.cam_root[0, 2], expected_z)


def test_compact_forward_shapes_and_ranges(compact):
    with torch.inference_mode():
        out = compact(torch.randn(2, 3, compact.input_size, compact.input_size))
    shapes = {
        "uvd": (2, 29, 3), "xyz29": (2, 29, 3), "phi": (2, 23, 2), "phi_raw": (2, 23, 2), "betas": (2, 10),
        "cam": (2, 3), "cam_root": (2, 3), "sigma": (2, 29), "scores": (2, 29), "maxvals": (2, 29),
    }
    for name, shape in shapes.items():
        assert getattr(out, name).shape == shape, name
    assert out.uvd.abs().max() <= 0.5
    torch.testing.assert_close(out.phi.norm(dim=-1), torch.ones(2, 23))
    torch.testing.assert_close(out.scores, 1 - out.sigma)
    assert ((out.sigma > 0) & (out.sigma < 1)).all()
    assert out.xyz29[:, 0].abs().max() == 0  # root-relative
    assert ((out.maxvals > 0) & (out.maxvals <= 1)).all()


def test_compact_rejects_wrong_input_size(compact):
    with pytest.raises(ValueError, match=str(compact.input_size)):
        compact(torch.randn(1, 3, 256, 256))


def test_eval_is_deterministic_and_training_reaches_every_parameter(compact):
    x = torch.randn(2, 3, compact.input_size, compact.input_size, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        a, b = compact(x), compact(x)
    torch.testing.assert_close(a.xyz29, b.xyz29, rtol=0, atol=0)
    small = _config("compact")
    small.network.input_size, small.network.focal_length = 64, 250.0  # cheaper backward
    net = build_teacher(small).train()
    out = net(torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3)))
    loss = sum(t.float().square().mean() for t in (out.uvd, out.phi_raw, out.betas, out.cam, out.sigma))
    loss.backward()
    dead = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead


def test_soft_argmax_of_one_hot_volume_is_its_voxel():
    D, H, W = 8, 6, 5
    logits = torch.full((2, 3, D, H, W), -1e4)
    voxels = [(1, 2, 3), (7, 5, 4), (0, 0, 0), (4, 1, 2), (3, 3, 1), (6, 0, 4)]
    for n, (d, h, w) in enumerate(voxels):
        logits[n // 3, n % 3, d, h, w] = 0.0
    uvd, maxvals = soft_argmax_3d(logits)
    expected = torch.tensor([[w / W - 0.5, h / H - 0.5, d / D - 0.5] for d, h, w in voxels]).reshape(2, 3, 3)
    torch.testing.assert_close(uvd, expected)
    torch.testing.assert_close(maxvals, torch.ones(2, 3))


def test_soft_argmax_of_uniform_volume_is_the_mean_index():
    uvd, maxvals = soft_argmax_3d(torch.zeros(1, 1, 4, 4, 4))
    torch.testing.assert_close(uvd, torch.full((1, 1, 3), 1.5 / 4 - 0.5))
    torch.testing.assert_close(maxvals, torch.full((1, 1), 1 / 64))


def test_uvd_to_camera_matches_hand_computation():
    uvd = torch.tensor([[[0.1, -0.2, 0.0], [0.25, 0.05, 0.1]]])
    cam = torch.tensor([[0.8, 0.02, -0.04]])
    box = torch.tensor([[100.0, 50.0, 300.0, 250.0]])
    centre = torch.tensor([[320.0, 240.0]])
    xyz, root = uvd_to_camera(uvd, cam, 256, 1000.0, 2.2, box, centre)
    depth = 1000.0 / (256 * 0.8)  # 4.8828 m
    shift = ((200 - 320) / 200, (150 - 240) / 200)
    joint0 = [(0.1 + shift[0]) * 0.256 * depth, (-0.2 + shift[1]) * 0.256 * depth, 0.0]
    z1 = 0.1 * 2.2
    joint1 = [(0.25 + shift[0]) * 0.256 * (z1 + depth), (0.05 + shift[1]) * 0.256 * (z1 + depth), z1]
    torch.testing.assert_close(root, torch.tensor([[joint0[0], joint0[1], depth]]))
    torch.testing.assert_close(xyz[0, 1], torch.tensor(joint1) - torch.tensor(joint0))
    # Without boxes the predicted (tx, ty) replace the box shift.
    xyz, root = uvd_to_camera(uvd, cam, 256, 1000.0, 2.2)
    torch.testing.assert_close(root[0, 0], torch.tensor((0.1 - 0.02) * 0.256 * depth))


def test_camera_joints_project_onto_their_image_pixels():
    """HybrIK's camera is a pinhole with focal f * box_w / S at the image centre."""
    g = torch.Generator().manual_seed(3)
    uvd = torch.rand(4, 29, 3, generator=g) - 0.5
    cam = torch.rand(4, 3, generator=g) * 0.5 + torch.tensor([0.6, -0.1, -0.1])
    box = torch.tensor([[100.0, 40.0, 260.0, 200.0], [0, 0, 300, 300], [50, 60, 130, 140], [400, 10, 620, 230]])
    centre = torch.tensor([[320.0, 240.0]]).expand(4, 2)
    xyz, root = uvd_to_camera(uvd, cam, 256, 1000.0, 2.2, box, centre)
    focal = 1000.0 * (box[:, 2] - box[:, 0]) / 256
    K = intrinsics_matrix(focal, focal, centre[:, 0], centre[:, 1])
    pixels, _ = project_points(xyz + root[:, None], K)
    torch.testing.assert_close(pixels, uvd_to_image(uvd, box), atol=1e-3, rtol=0)


def test_pose_from_output_places_the_body_at_the_camera_root():
    body = build_body_model("stand-in").double()
    g = torch.Generator().manual_seed(4)
    rot = axis_angle_to_matrix(torch.randn(3, 24, 3, generator=g, dtype=torch.float64) * 0.4)
    rot[:, 0] = random_rotation_matrix(3, generator=g, dtype=torch.float64)
    betas = torch.randn(3, 10, generator=g, dtype=torch.float64)
    joints = body(rot[:, 0], rot[:, 1:], betas, return_vertices=False).joints29
    cam_root = torch.tensor([[0.1, -0.2, 3.0], [0.0, 0.3, 4.5], [-0.4, 0.1, 2.5]], dtype=torch.float64)
    zeros = torch.zeros(3, 29, dtype=torch.float64)
    output = TeacherOutput(
        uvd=torch.zeros(3, 29, 3, dtype=torch.float64), xyz29=joints - joints[:, :1],
        phi=twist_angles(rot, betas, body), phi_raw=twist_angles(rot, betas, body), betas=betas,
        cam=torch.zeros(3, 3, dtype=torch.float64), cam_root=cam_root, sigma=zeros, scores=zeros + 1, maxvals=zeros,
    )
    pose = pose_from_output(output, body)
    posed = body(pose.rotmats[:, 0], pose.rotmats[:, 1:], pose.betas, pose.transl, return_vertices=False).joints29
    torch.testing.assert_close(posed, joints - joints[:, :1] + cam_root[:, None], atol=1e-9, rtol=0)
    assert not pose.flags.any()


def test_network_rejects_input_size_not_multiple_of_32():
    with pytest.raises(ValueError, match="multiple of 32"):
        HybrIKNet(depth=18, input_size=100)


def test_fused_inference_copy_matches_the_network():
    torch.manual_seed(5)
    net = build_teacher(_config("compact"))
    g = torch.Generator().manual_seed(6)
    for module in net.modules():  # non-trivial BatchNorm statistics and sharper heatmaps
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.2, generator=g)
            module.running_var.uniform_(0.5, 2.0, generator=g)
            module.weight.data.uniform_(0.5, 1.5, generator=g)
            module.bias.data.normal_(0, 0.2, generator=g)
    torch.nn.init.normal_(net.final_layer.weight, std=0.05, generator=g)
    net.eval()
    fused = fuse_for_inference(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # original untouched
    x = torch.randn(2, 3, net.input_size, net.input_size, generator=g)
    with torch.inference_mode():
        a, b = net(x), fused(x)
    assert a.uvd.std() > 1e-3  # the comparison is not between constants
    for name in ("uvd", "xyz29", "phi", "betas", "cam", "sigma", "maxvals"):
        torch.testing.assert_close(getattr(b, name), getattr(a, name), atol=1e-4, rtol=1e-4)


def test_chunked_volume_decoding_equals_whole_batch(compact):
    g = torch.Generator().manual_seed(7)
    torch.nn.init.normal_(compact.final_layer.weight, std=0.05, generator=g)
    x = torch.randn(3, 3, compact.input_size, compact.input_size, generator=g)
    results = {}
    for step in (4, 29, 5):
        compact.joints_per_chunk = step
        with torch.inference_mode():
            results[step] = compact(x)
    compact.joints_per_chunk = 4
    for step in (29, 5):
        torch.testing.assert_close(results[step].uvd, results[4].uvd, atol=1e-6, rtol=0)
        torch.testing.assert_close(results[step].maxvals, results[4].maxvals, atol=1e-7, rtol=1e-5)


def test_count_macs_of_known_layers():
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),  # 8x8 out x 8 ch x 3 x 9 = 13824
        torch.nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, bias=False),  # 8x8x8 in x 4 x 16 = 32768
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 16 * 16, 5),  # 1024 x 5 = 5120
    )
    assert count_macs(model, torch.zeros(1, 3, 8, 8)) == 13824 + 32768 + 5120


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_volume_layer_equals_the_1x1_conv_in_either_memory_format(memory_format):
    torch.manual_seed(0)
    layer = VolumeLayer(16, 12, kernel_size=1)
    x = torch.randn(3, 16, 8, 8).contiguous(memory_format=memory_format)
    reference = torch.nn.functional.conv2d(x, layer.weight, layer.bias)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), reference, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(layer(x, 4, 10), reference[:, 4:10], atol=1e-5, rtol=1e-5)
        assert layer(x).is_contiguous()
