"""The Python counterparts of skipzoo's models for the benchmarks, with skipzoo's state_dict keys:
torchvision's ResNets (or, where torchvision is not installed, e.g. on a GPU machine with only
PyTorch, an equivalent written here), the CIFAR ResNets with option-A shortcuts, and the U-Net.

same_network() proves that a Python model *is* skipzoo's network: skipzoo's export loads into it
with strict=True and both give the same outputs. Works with torch 1.13 and 2.x.
"""
import os
import subprocess
import tempfile

import torch
import torch.nn.functional as F
from torch import nn

try:
    import torchvision
except ImportError:  # PyTorch alone: build_model() uses the ResNets below
    torchvision = None


def conv_bn(cin, cout, kernel, stride=1):
    return nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)


class PadShortcut(nn.Module):
    """He et al. 2015 option A: subsample, then zero channels on both sides (no parameters)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride, self.front, self.back = stride, (cout - cin) // 2, cout - cin - (cout - cin) // 2

    def forward(self, x):
        s = self.stride
        return F.pad(x[:, :, ::s, ::s], [0, 0, 0, 0, self.front, self.back])


class Block(nn.Module):
    """torchvision's BasicBlock (expansion 1) or Bottleneck (expansion 4, stride on the 3x3 conv)."""

    def __init__(self, cin, planes, stride, bottleneck, pad_shortcut):
        super().__init__()
        cout = planes * (4 if bottleneck else 1)
        shapes = [(cin, planes, 1, 1), (planes, planes, 3, stride), (planes, cout, 1, 1)] if bottleneck else \
            [(cin, planes, 3, stride), (planes, cout, 3, 1)]
        self.convs = len(shapes)
        for i, (a, b, k, s) in enumerate(shapes, 1):
            conv, bn = conv_bn(a, b, k, s)
            setattr(self, f"conv{i}", conv)
            setattr(self, f"bn{i}", bn)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None  # torchvision's name; option A has no parameters, so no keys
        if stride != 1 or cin != cout:
            self.downsample = PadShortcut(cin, cout, stride) if pad_shortcut else \
                nn.Sequential(*conv_bn(cin, cout, 1, stride))

    def forward(self, x):
        out = x
        for i in range(1, self.convs + 1):
            out = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(out))
            if i < self.convs:
                out = self.relu(out)
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, layers, widths, bottleneck=False, cifar=False, classes=1000):
        super().__init__()
        self.cifar = cifar
        self.conv1, self.bn1 = conv_bn(3, widths[0], 3 if cifar else 7, 1 if cifar else 2)
        self.relu = nn.ReLU(inplace=True)
        cin = widths[0]
        for i, (n, w) in enumerate(zip(layers, widths), 1):
            blocks = []
            for j in range(n):
                blocks.append(Block(cin, w, 2 if i > 1 and j == 0 else 1, bottleneck, pad_shortcut=cifar))
                cin = w * (4 if bottleneck else 1)
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.stages = len(layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        if not self.cifar:
            x = F.max_pool2d(x, 3, 2, 1)
        for i in range(1, self.stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class ConvBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1, self.bn1 = conv_bn(cin, cout, 3)
        self.conv2, self.bn2 = conv_bn(cout, cout, 3)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return F.relu(self.bn2(self.conv2(x)), inplace=True)


class UpBlock(nn.Module):
    def __init__(self, cin, skip, cout):
        super().__init__()
        self.conv = ConvBlock(cin + skip, cout)

    def forward(self, x, skip):
        x = F.interpolate(x, size=(x.shape[2] * 2, x.shape[3] * 2), mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], 1))


class UNet(nn.Module):
    """skipzoo's `unet` (models/src/unet.cpp): zero-pad to a multiple of 2^depth, ConvBlocks down
    with 2x2 max pooling, bilinear x2 up + concatenated skip + ConvBlock, 1x1 head, crop back."""

    def __init__(self, in_channels=3, classes=2, depth=4, base_width=32):
        super().__init__()
        self.multiple = 2 ** depth
        width = base_width
        self.down = nn.ModuleList([ConvBlock(in_channels, width)])
        for _ in range(depth):
            self.down.append(ConvBlock(width, width * 2))
            width *= 2
        self.up = nn.ModuleList()
        for _ in range(depth):
            self.up.append(UpBlock(width, width // 2, width // 2))
            width //= 2
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        m = self.multiple
        x = F.pad(x, [0, (m - w % m) % m, 0, (m - h % m) % m])
        skips = []
        for i, block in enumerate(self.down):
            if i > 0:
                x = F.max_pool2d(x, 2, 2)
            x = block(x)
            skips.append(x)
        for i, block in enumerate(self.up):
            x = block(x, skips[-2 - i])
        return self.head(x)[:, :, :h, :w]


IMAGENET = {"resnet18": ([2, 2, 2, 2], False), "resnet34": ([3, 4, 6, 3], False), "resnet50": ([3, 4, 6, 3], True),
            "resnet101": ([3, 4, 23, 3], True), "resnet152": ([3, 8, 36, 3], True)}
CIFAR = {f"resnet{d}": (d - 2) // 6 for d in (20, 32, 44, 56, 110)}


def build_model(name):
    """(model, source): the Python network that skipzoo's model `name` (default options) is."""
    if name == "unet":
        return UNet(), "bench/py_zoo.py"
    if name in CIFAR:
        n = CIFAR[name]
        return ResNet([n] * 3, [16, 32, 64], cifar=True, classes=10), "bench/py_zoo.py"
    if torchvision is not None and hasattr(torchvision.models, name):
        return getattr(torchvision.models, name)(), f"torchvision {torchvision.__version__}"
    if name in IMAGENET:
        layers, bottleneck = IMAGENET[name]
        return ResNet(layers, [64, 128, 256, 512], bottleneck), "bench/py_zoo.py (no torchvision here)"
    raise SystemExit(f"no Python counterpart for skipzoo model '{name}'")


def task_of(name):
    return "segmentation" if name.startswith("unet") else "classification"


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def same_network(cli, name, model, threads=1):
    """Exports skipzoo's `name` (seeded weights), loads those weights into `model` strictly and
    returns the largest output difference on an odd-sized input (0 up to float rounding)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.ts")
        subprocess.run([cli, "--threads", str(threads), "export", "--model", name, "--out", path],
                       check=True, capture_output=True)
        exported = torch.jit.load(path)
    model.load_state_dict(exported.state_dict(), strict=True)
    model.eval()
    x = torch.randn(2, 3, 45, 67) if task_of(name) == "segmentation" else torch.randn(2, 3, 35, 37)
    with torch.no_grad():
        return (model(x) - exported(x)).abs().max().item()
