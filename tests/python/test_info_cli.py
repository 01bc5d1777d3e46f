"""`skipzoo info` and `skipzoo experiment scale-invariance` against independent references:
torchvision's own models measured with forward hooks, Python's exact math.comb, and the
PNG file format."""
import json
import math
import struct

import pytest
import torch
import torchvision

from conftest import run


def info(cli, *args):
    return json.loads(run([cli, "info", *args, "--json", "--threads", "1"]).stdout)


def torchvision_layers(name, shape):
    """name -> (type, output shape, params, MACs) for torchvision's conv, BN and linear layers."""
    model = getattr(torchvision.models, name)().eval()
    layers = {}

    def hook(module_name):
        def record(module, inputs, output):
            macs = 0
            if isinstance(module, torch.nn.Conv2d):
                macs = output.numel() * module.weight[0].numel()  # C_in/groups * kh * kw per output
            elif isinstance(module, torch.nn.Linear):
                macs = output.numel() * module.in_features
            params = sum(p.numel() for p in module.parameters(recurse=False))
            layers[module_name] = (type(module).__name__, list(output.shape), params, macs)
        return record

    for module_name, module in model.named_modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.Linear)):
            module.register_forward_hook(hook(module_name))
    with torch.no_grad():
        model(torch.zeros(shape))
    return layers


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnext50_32x4d"])
def test_layer_table_matches_torchvision(cli, name):
    got = info(cli, name)
    expected = torchvision_layers(name, (1, 3, 224, 224))
    table = {layer["name"]: layer for layer in got["layers"]}
    assert set(table) == set(expected)
    for layer_name, (kind, shape, params, macs) in expected.items():
        row = table[layer_name]
        assert (row["type"], row["output_shape"], row["params"], row["macs"]) == (kind, shape, params, macs), layer_name
    assert got["totals"]["macs"] == sum(m for *_, m in expected.values())
    assert got["totals"]["params"] == sum(p.numel() for p in getattr(torchvision.models, name)().parameters())


def test_torchvision_published_figures(cli):
    r50 = info(cli, "resnet50", "--input", "3,224,224")
    assert r50["totals"]["params"] == 25_557_032
    assert round(r50["totals"]["macs"] / 1e9, 2) == 4.09
    assert r50["totals"]["non_trainable_params"] == 0
    assert r50["output_shape"] == [1, 1000]
    assert round(info(cli, "resnet18")["totals"]["macs"] / 1e9, 2) == 1.81


def test_seed_parameter_counts(cli):
    assert info(cli, "mlp", "--options", '{"depth":10,"width":20}')["totals"]["params"] == 3841
    assert info(cli, "mlp", "--options", '{"depth":10,"width":20,"batchnorm":true}')["totals"]["params"] == 4241
    assert info(cli, "preact_unit", "--input", "512,8,8")["totals"]["params"] == 2_360_320
    assert info(cli, "preact_bottleneck", "--input", "512,8,8")["totals"]["params"] == 280_064


@pytest.mark.parametrize("name,blocks", [("resnet20", 9), ("resnet152", 50), ("preact_resnet164", 54)])
def test_paths_are_exact_binomials(cli, name, blocks):
    paths = info(cli, name, "--paths", "--input", "3,32,32")["paths"]
    assert paths["blocks"] == blocks
    assert paths["paths"] == [str(math.comb(blocks, l)) for l in range(blocks + 1)]
    assert paths["total"] == str(2 ** blocks)
    assert paths["mean_length"] == pytest.approx(blocks / 2)


def test_text_output_and_variance(cli):
    out = run([cli, "info", "resnet20", "--paths", "--variance", "--batch", "4", "--threads", "1"]).stdout
    assert "layer3.2.bn2" in out and "269,722" in out
    assert "2^9 = 512 paths; mean length 4.50 blocks" in out
    assert "layer3.2" in out.split("variance of each residual block")[1]
    variance = info(cli, "resnet20", "--variance", "--batch", "4", "--options", '{"norm":"none"}')["variance"]
    assert [b["name"] for b in variance["blocks"]][:2] == ["layer1.0", "layer1.1"]
    for block in variance["blocks"]:
        if block["input_shape"] == block["output_shape"]:  # identity shortcut: the branch adds variance
            assert block["output_variance"] > block["input_variance"] > 0, block


@pytest.mark.parametrize("args,message", [
    (["resnet5"], "unknown model 'resnet5'"),
    (["resnet18", "--input", "3,x,224"], "--input '3,x,224': expected positive integers separated by commas (C,H,W)"),
    (["resnet18", "--input", "224,224"], "model 'resnet18' takes C,H,W (3 numbers)"),
    (["resnet18", "--input", "1,224,224"], "model 'resnet18' has 3 input channels (set them with --in-channels)"),
    (["resnet18", "--input", "3,0,224"], "expected positive integers"),
    (["mlp", "--input", "1,2,3"], "model 'mlp' takes C (1 number)"),
    (["unet", "--variance"], "the model has no residual blocks"),
    (["unet", "--options", "{depth"], "not valid JSON"),
])
def test_clear_errors(cli, args, message):
    proc = run([cli, "info", *args], check=False)
    assert proc.returncode == 2  # usage errors
    assert message in proc.stderr, proc.stderr
    assert proc.stderr.startswith("skipzoo: error: ")


def test_scale_invariance_experiment_writes_a_png(cli, tmp_path):
    png = tmp_path / "plots" / "scale.png"
    out = json.loads(run([cli, "experiment", "scale-invariance", "--steps", "12", "--plot", png, "--json",
                          "--threads", "1"]).stdout)
    steps = out["steps"]
    assert len(steps) == 13
    for row in steps:
        assert row["conv_weight_norm"] == pytest.approx(steps[0]["conv_weight_norm"] * 0.95 ** row["step"], rel=1e-5)
    assert steps[-1]["output_change_bn"] < 1e-4 < 0.1 < steps[-1]["output_change_no_norm"]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (900, 540)  # IHDR width, height


def test_help_shows_defaults(cli):
    text = run([cli, "info", "--help"]).stdout
    for flag in ["--input", "--paths", "--variance", "--json", "--batch", "--seed", "--options"]:
        assert flag in text
    assert "16" in text.split("--batch")[1].split("\n")[0]
    text = run([cli, "experiment", "scale-invariance", "--help"]).stdout
    assert "resnet20" in text and "0.5" in text
