"""Person boxes, HybrIK's square crop, the affine warp and its inverse."""

from __future__ import annotations

import pytest
import torch

from wavecap.errors import DataError
from wavecap.teacher.boxes import JointTracker, box_from_joints, check_boxes, fixed_boxes
from wavecap.teacher.crop import (
    CROP_MEAN,
    CROP_STD,
    crop_images,
    crop_to_image,
    image_to_crop,
    normalize_crops,
    prepare_inputs,
    square_boxes,
    uvd_to_image,
)


def _ramp_image(height: int, width: int) -> torch.Tensor:
    """[1, 3, H, W]: channel 0 = x, channel 1 = y, channel 2 = 1 (float)."""
    y, x = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                          indexing="ij")
    return torch.stack([x, y, torch.ones_like(x)])[None]


def test_square_box_expands_the_short_side_then_scales():
    boxes = torch.tensor([[10.0, 20.0, 50.0, 100.0], [0.0, 0.0, 200.0, 100.0]])
    square = square_boxes(boxes)
    torch.testing.assert_close(square, torch.tensor([[-20.0, 10.0, 80.0, 110.0], [-25.0, -75.0, 225.0, 175.0]]))


def test_crop_samples_the_box_with_pixel_centres_like_warp_affine():
    """Crop pixel q samples image pixel c + (q - S/2) * w / S (linear ramps are exact)."""
    image = _ramp_image(120, 160)
    box = torch.tensor([[40.0, 30.0, 104.0, 94.0]])  # centre (72, 62), side 64
    crop = crop_images(image, box, 32).double()
    q = torch.arange(32, dtype=torch.float64)
    expected_x = 72 + (q - 16) * 2
    expected_y = 62 + (q - 16) * 2
    torch.testing.assert_close(crop[0, 0], expected_x[None].expand(32, 32), atol=1e-4, rtol=0)
    torch.testing.assert_close(crop[0, 1], expected_y[:, None].expand(32, 32), atol=1e-4, rtol=0)
    # The box centre lands on the crop centre.
    assert crop[0, 0, 16, 16] == pytest.approx(72, abs=1e-4) and crop[0, 1, 16, 16] == pytest.approx(62, abs=1e-4)


def test_crop_centre_of_a_marked_image_and_zero_padding():
    image = torch.zeros(2, 3, 90, 120, dtype=torch.uint8)
    image[0, :, 40, 70] = 255  # marker at the first box's centre
    image[1, :, 10, 5] = 200
    boxes = torch.tensor([[50.0, 20.0, 90.0, 60.0], [-45.0, -40.0, 55.0, 60.0]])  # centres (70, 40), (5, 10)
    crops = crop_images(image, boxes, 40)
    assert crops.dtype == torch.float32
    assert crops[0, 0, 20, 20] == 255 and crops[0].sum() == 3 * 255
    assert crops[1, 0, 20, 20] == 200  # 1 crop pixel = 2.5 image pixels around the centre
    assert crops[1, :, :5].abs().max() == 0  # rows above the image are zero padding
    assert torch.equal(crops, crops.round())  # uint8 in, integer grey levels out


def test_inverse_mapping_round_trips_and_matches_uvd():
    g = torch.Generator().manual_seed(0)
    boxes = square_boxes(torch.tensor([[100.0, 50.0, 180.0, 250.0], [10.0, 10.0, 60.0, 40.0]]))
    points = torch.rand(2, 7, 2, generator=g) * 500
    torch.testing.assert_close(crop_to_image(image_to_crop(points, boxes, 256), boxes, 256), points)
    # Network u, v in crop units: crop pixel (u + 0.5) * S.
    uvd = torch.rand(2, 29, 3, generator=g) - 0.5
    torch.testing.assert_close(uvd_to_image(uvd, boxes), crop_to_image((uvd[..., :2] + 0.5) * 256, boxes, 256))
    # A crop pixel's image position is where the warp sampled it.
    image = _ramp_image(300, 300).float()
    box = torch.tensor([[60.0, 40.0, 220.0, 200.0]])
    crop = crop_images(image, box, 64)
    pixel = crop_to_image(torch.tensor([[[13.0, 41.0]]]), box, 64)[0, 0]
    torch.testing.assert_close(crop[0, :2, 41, 13], pixel, atol=1e-3, rtol=0)


def test_normalisation_constants_and_prepare_inputs():
    grey = torch.full((1, 3, 64, 64), 128, dtype=torch.uint8)
    inputs, square = prepare_inputs(grey, torch.tensor([[8.0, 8.0, 56.0, 56.0]]), 32)
    expected = [(128 / 255 - m) / s for m, s in zip(CROP_MEAN, CROP_STD)]
    for channel in range(3):
        assert inputs[0, channel, 16, 16].item() == pytest.approx(expected[channel], abs=1e-5)
    torch.testing.assert_close(square, torch.tensor([[2.0, 2.0, 62.0, 62.0]]))
    assert inputs.shape == (1, 3, 32, 32)
    assert normalize_crops(torch.zeros(1, 3, 1, 1))[0, :, 0, 0].tolist() == pytest.approx(
        [-m / s for m, s in zip(CROP_MEAN, CROP_STD)])


def test_check_boxes_names_the_bad_frame():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 4.0, 9.0], [0.0, 0.0, 1.0, 1.0]])
    with pytest.raises(DataError) as err:
        check_boxes(boxes, file="s.h5", group="/camera", field="boxes")
    assert err.value.frame == 1 and "s.h5" in str(err.value)
    with pytest.raises(DataError):
        check_boxes(torch.tensor([[0.0, float("nan"), 1.0, 1.0]]))
    assert fixed_boxes([1, 2, 30, 40], 5).shape == (5, 4)
    with pytest.raises(DataError):
        fixed_boxes([10, 2, 3, 40], 5)


def test_box_from_joints_covers_joints_with_margin():
    uv = torch.tensor([[[10.0, 20.0], [50.0, 120.0], [30.0, 70.0]]])
    box = box_from_joints(uv, margin=0.1)
    torch.testing.assert_close(box, torch.tensor([[6.0, 10.0, 54.0, 130.0]]))
    tiny = box_from_joints(torch.tensor([[5.0, 5.0], [5.0, 5.0]]), margin=0.1, min_size=16)
    torch.testing.assert_close(tiny, torch.tensor([-3.0, -3.0, 13.0, 13.0]))


def test_joint_tracker_follows_and_holds():
    tracker = JointTracker(torch.tensor([0.0, 0.0, 100.0, 200.0]), margin=0.0, min_score=0.5)
    uv = torch.tensor([[40.0, 50.0], [80.0, 250.0], [900.0, 900.0]])
    scores = torch.tensor([0.9, 0.8, 0.1])  # the outlier is not trusted
    torch.testing.assert_close(tracker.update(uv, scores), torch.tensor([40.0, 50.0, 80.0, 250.0]))
    torch.testing.assert_close(tracker.box, torch.tensor([40.0, 50.0, 80.0, 250.0]))
    # Nothing confident (occlusion) or NaN joints: keep the previous box.
    tracker.update(uv, torch.zeros(3))
    tracker.update(torch.full((3, 2), float("nan")))
    torch.testing.assert_close(tracker.box, torch.tensor([40.0, 50.0, 80.0, 250.0]))
