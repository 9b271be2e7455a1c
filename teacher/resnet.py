"""ResNet backbones in plain torch, with torchvision's parameter names.

torchvision is not available here, and HybrIK's checkpoints store their
backbone under torchvision's names (``conv1``, ``bn1``, ``layer1..4``,
``downsample.0/1``), so the modules are written out with exactly those names.
There is no ``fc``: the teacher only needs the stride-32 feature map.

Widths and block counts are configurable so the compact teacher can use a
thinner / shallower network with the same structure.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# Blocks per stage of the standard depths (He et al., 2016).
STANDARD_LAYERS: dict[int, tuple[int, int, int, int]] = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
}


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 bottleneck (ResNet-50), stride on the 3x3 as in torchvision."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet feature extractor (stride 32, no pooling head, no ``fc``).

    Args:
        depth: 18 or 34 (BasicBlock) or 50 (Bottleneck).
        layers: blocks per stage; defaults to the standard counts of ``depth``.
        widths: planes of the four stages; (64, 128, 256, 512) is standard.
            The stem has ``widths[0]`` channels.

    Input [B, 3, H, W] -> output [B, out_channels, H/32, W/32].
    """

    def __init__(
        self,
        depth: int = 34,
        layers: Sequence[int] | None = None,
        widths: Sequence[int] = (64, 128, 256, 512),
    ) -> None:
        super().__init__()
        if depth not in STANDARD_LAYERS:
            raise ValueError(f"ResNet depth must be one of {sorted(STANDARD_LAYERS)}, got {depth}")
        layers = tuple(layers) if layers is not None else STANDARD_LAYERS[depth]
        if len(layers) != 4 or len(widths) != 4:
            raise ValueError(f"need 4 stages, got layers={layers}, widths={tuple(widths)}")
        block = Bottleneck if depth >= 50 else BasicBlock
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(3, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0], stride=1)
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.out_channels = widths[3] * block.expansion
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        stage = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        stage += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] normalised image -> [B, out_channels, H/32, W/32] features."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))
