"""skipzoo's eager C++ ResNets against Debian's torchvision: same state_dict keys in the same
order, same parameter counts, and the same logits for the same weights."""
import json

import pytest
import torch
import torchvision

from conftest import randomize_norm_stats, run

BUILDERS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
            "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"]

PUBLISHED_COUNTS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
                    "resnet101": 44_549_160, "resnet152": 60_192_808}


def cpp_keys(xcheck, name, *extra):
    return json.loads(run([xcheck, "keys", "--model", name, *extra]).stdout)


@pytest.mark.parametrize("name", BUILDERS)
def test_keys_and_parameter_counts(xcheck, name):
    tv = getattr(torchvision.models, name)()
    cpp = cpp_keys(xcheck, name)
    assert cpp["keys"] == list(tv.state_dict().keys())
    assert cpp["parameters"] == sum(p.numel() for p in tv.parameters())
    if name in PUBLISHED_COUNTS:
        assert cpp["parameters"] == PUBLISHED_COUNTS[name]


def test_keys_follow_options(xcheck):
    """num_classes and in_channels change the shapes, not the names."""
    tv = torchvision.models.resnet18(num_classes=7)
    cpp = cpp_keys(xcheck, "resnet18", "--classes", "7", "--in-channels", "1")
    assert cpp["keys"] == list(tv.state_dict().keys())
    assert cpp["parameters"] == sum(p.numel() for p in tv.parameters()) - 2 * 64 * 7 * 7


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2"])
@pytest.mark.parametrize("size", [(224, 224), (97, 131)])
def test_same_logits_as_torchvision(xcheck, tmp_path, name, size):
    torch.manual_seed(0)
    tv = randomize_norm_stats(getattr(torchvision.models, name)()).eval()
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        expected = tv(x)
    torch.save(dict(tv.state_dict()), tmp_path / "w.pt")
    torch.save(x, tmp_path / "x.pt")
    run([xcheck, "forward", "--model", name, "--weights", tmp_path / "w.pt",
         "--input", tmp_path / "x.pt", "--output", tmp_path / "y.pt"])
    got = torch.load(tmp_path / "y.pt")
    assert got.shape == expected.shape
    assert expected.abs().max() > 1e-2  # a meaningful comparison, not two tiny vectors
    assert (got - expected).abs().max().item() <= 1e-4


def test_dilated_resnet50_matches_torchvision(xcheck, tmp_path):
    """replace_stride_with_dilation: the segmentation variant of the encoder."""
    torch.manual_seed(1)
    tv = randomize_norm_stats(torchvision.models.resnet50(replace_stride_with_dilation=[False, True, True])).eval()
    x = torch.randn(1, 3, 65, 81)
    with torch.no_grad():
        expected = tv(x)
    torch.save(dict(tv.state_dict()), tmp_path / "w.pt")
    torch.save(x, tmp_path / "x.pt")
    run([xcheck, "forward", "--model", "resnet50", "--options",
         '{"replace_stride_with_dilation": [false, true, true]}', "--weights", tmp_path / "w.pt",
         "--input", tmp_path / "x.pt", "--output", tmp_path / "y.pt"])
    assert (torch.load(tmp_path / "y.pt") - expected).abs().max().item() <= 1e-4
