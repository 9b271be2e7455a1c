"""Person crops exactly as HybrIK's test transform makes them, in torch.

HybrIK (``SimpleTransform3DSMPLCam.test_transform``):

1. box (x1, y1, x2, y2) -> centre and size; the shorter side is expanded to
   aspect 1, then both are multiplied by ``scale_mult`` = 1.25;
2. ``cv2.warpAffine`` (bilinear, zero border) maps the square onto the
   S x S crop: crop pixel ``q`` samples image pixel ``c + (q - S/2) * w / S``
   (pixel centres at integer coordinates, as OpenCV);
3. RGB / 255, minus (0.406, 0.457, 0.480), divided by (0.225, 0.224, 0.229).

Step 2 is :func:`F.affine_grid` + :func:`F.grid_sample` with the same
pixel-centre convention. uint8 images are rounded back to integers after
sampling, as ``warpAffine`` on uint8 returns uint8 (OpenCV's fixed-point
interpolation weights can still differ by one grey level).

Image coordinates are pixels (x right, y down), origin at the top-left
pixel's centre.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# HybrIK's normalisation (AlphaPose heritage: roughly ImageNet's B, G, R
# statistics applied to R, G, B). Released weights expect exactly this.
CROP_MEAN: tuple[float, float, float] = (0.406, 0.457, 0.480)
CROP_STD: tuple[float, float, float] = (0.225, 0.224, 0.229)


def square_boxes(boxes: torch.Tensor, scale_mult: float = 1.25) -> torch.Tensor:
    """HybrIK's crop box: the box made square about its centre, then scaled.

    Args:
        boxes: [..., 4] person boxes (x1, y1, x2, y2), image pixels.
        scale_mult: enlargement of the square (1.25 in HybrIK).

    Returns:
        [..., 4] square boxes (x1, y1, x2, y2) with the same centres.
    """
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2  # [..., 2]
    side = (boxes[..., 2:] - boxes[..., :2]).amax(dim=-1, keepdim=True) * scale_mult  # [..., 1]
    return torch.cat([centre - side / 2, centre + side / 2], dim=-1)


def crop_to_image(points: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Map crop pixel coordinates to image pixel coordinates.

    Args:
        points: [B, N, 2] (x, y) in the S x S crop.
        boxes: [B, 4] square crop boxes (x1, y1, x2, y2), image pixels.
        size: crop side S.

    Returns:
        [B, N, 2] image pixels.
    """
    centre = (boxes[:, None, :2] + boxes[:, None, 2:]) / 2  # [B, 1, 2]
    scale = (boxes[:, None, 2:] - boxes[:, None, :2]) / size  # image pixels per crop pixel
    return centre + (points - size / 2) * scale


def image_to_crop(points: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Inverse of :func:`crop_to_image`: image pixels [B, N, 2] -> crop pixels."""
    centre = (boxes[:, None, :2] + boxes[:, None, 2:]) / 2
    scale = (boxes[:, None, 2:] - boxes[:, None, :2]) / size
    return (points - centre) / scale + size / 2


def uvd_to_image(uvd: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Image pixels of the network's (u, v): ``box centre + (u, v) * box size``.

    Args:
        uvd: [B, J, 3] (or [B, J, 2]) soft-argmax output in crop units.
        boxes: [B, 4] square crop boxes, image pixels.

    Returns:
        [B, J, 2] image pixels.
    """
    centre = (boxes[:, None, :2] + boxes[:, None, 2:]) / 2
    return centre + uvd[..., :2] * (boxes[:, None, 2:] - boxes[:, None, :2])


def crop_images(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Warp each box of a batch of images onto an S x S crop.

    Args:
        images: [B, C, H, W] uint8 or float images (channel order kept).
        boxes: [B, 4] square crop boxes (see :func:`square_boxes`), image
            pixels; they may extend past the image (zero padding).
        size: crop side S.

    Returns:
        [B, C, S, S] float32 crops on the images' value scale (rounded to
        integers for uint8 input).
    """
    B, _, H, W = images.shape
    dtype = images.dtype if images.is_floating_point() else torch.float32
    boxes = boxes.to(dtype)
    # Normalised output coordinate o (align_corners=False) -> crop pixel
    # q = ((o + 1) S - 1) / 2 -> image pixel p = c + (q - S/2) k -> normalised
    # input coordinate (2 p + 1) / W_in - 1; all affine, folded per axis.
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2  # [B, 2]
    k = (boxes[:, 2:] - boxes[:, :2]) / size  # [B, 2] image pixels per crop pixel
    extent = torch.tensor([W, H], dtype=dtype, device=images.device)
    gain = k * size / extent  # d(normalised input) / d(normalised output)
    offset = (2 * (centre - k / 2) + 1) / extent - 1
    theta = torch.zeros(B, 2, 3, dtype=dtype, device=images.device)
    theta[:, 0, 0], theta[:, 1, 1] = gain[:, 0], gain[:, 1]
    theta[:, :, 2] = offset
    grid = F.affine_grid(theta, [B, images.shape[1], size, size], align_corners=False)
    crops = F.grid_sample(images.to(dtype), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if not images.is_floating_point():
        crops = crops.round()
    return crops.float()


def normalize_crops(crops: torch.Tensor) -> torch.Tensor:
    """HybrIK's input normalisation of RGB crops.

    Args:
        crops: [B, 3, S, S] RGB crops with values in 0..255.

    Returns:
        [B, 3, S, S] ``(crops / 255 - CROP_MEAN) / CROP_STD`` per channel.
    """
    mean = torch.tensor(CROP_MEAN, dtype=crops.dtype, device=crops.device)[:, None, None]
    std = torch.tensor(CROP_STD, dtype=crops.dtype, device=crops.device)[:, None, None]
    return (crops / 255 - mean) / std


def prepare_inputs(
    images: torch.Tensor, boxes: torch.Tensor, size: int, scale_mult: float = 1.25
) -> tuple[torch.Tensor, torch.Tensor]:
    """Person boxes -> normalised network input and the square boxes used.

    Args:
        images: [B, 3, H, W] RGB images, uint8 or float on the 0..255 scale.
        boxes: [B, 4] person boxes (x1, y1, x2, y2), image pixels.
        size: crop side S.
        scale_mult: square-box enlargement.

    Returns:
        inputs: [B, 3, S, S] normalised crops for :class:`HybrIKNet`.
        square: [B, 4] the crop boxes (pass them to the network as ``boxes``).
    """
    square = square_boxes(boxes.float(), scale_mult)
    return normalize_crops(crop_images(images, square, size)), square
