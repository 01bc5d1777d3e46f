"""skipzoo's TorchScript exports loaded by Python's torch.jit.load: every export parity case
(every registered model, >= 3 input sizes) gives the eager C++ outputs, the torchvision ResNet
exports' state_dict() loads into torchvision strictly with the same logits, and skipzoo.json
is readable through _extra_files."""
import json

import pytest
import torch
import torchvision

from conftest import run, tool

TORCHVISION_BUILDERS = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
                        "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"}
CASES = json.loads(run([tool("SKIPZOO_XCHECK"), "cases"]).stdout)
OPTIMIZED = ["resnet18", "resnet20", "preact_resnet18/one-channel", "unet", "unet_resnet18/one-channel",
             "mlp/batchnorm"]


def export_case(xcheck, tmp_path, case, *flags):
    """Runs the C++ side: export + inputs + eager outputs. Returns (module, metadata, pairs)."""
    run([xcheck, "export-case", "--case", case["id"], "--dir", tmp_path, *flags])
    extra = {"skipzoo.json": ""}
    module = torch.jit.load(str(tmp_path / "model.ts"), _extra_files=extra)
    pairs = [(torch.load(tmp_path / f"x{i}.pt"), torch.load(tmp_path / f"y{i}.pt"))
             for i in range(len(case["inputs"]))]
    return module, json.loads(extra["skipzoo.json"]), pairs


def max_diff(module, pairs):
    worst = 0.0
    with torch.inference_mode():
        for x, expected in pairs:
            got = module(x)
            assert got.shape == expected.shape
            assert expected.abs().max() > 1e-2  # a meaningful comparison
            worst = max(worst, (got - expected).abs().max().item())
    return worst


def test_every_registered_model_has_a_case(cli):
    names = {line.split()[0] for line in run([cli, "models"]).stdout.splitlines() if line.strip()}
    assert names == {case["model"] for case in CASES}
    assert all(len(case["inputs"]) >= 3 for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_export_gives_the_eager_cpp_outputs(xcheck, tmp_path, case):
    module, meta, pairs = export_case(xcheck, tmp_path, case)
    assert meta["format"] == "skipzoo.torchscript" and meta["format_version"] == 1
    assert meta["model"]["name"] == case["model"] and meta["optimized"] is False
    assert not module.training
    assert max_diff(module, pairs) <= 1e-5
    if case["id"] in TORCHVISION_BUILDERS:
        tv = getattr(torchvision.models, case["id"])().eval()
        tv.load_state_dict(module.state_dict(), strict=True)
        with torch.no_grad():
            for x, expected in pairs:
                assert (tv(x) - expected).abs().max().item() <= 1e-4


@pytest.mark.parametrize("case_id", OPTIMIZED)
def test_optimized_export_matches_eager_within_1e4(xcheck, tmp_path, case_id):
    case = next(c for c in CASES if c["id"] == case_id)
    module, meta, pairs = export_case(xcheck, tmp_path, case, "--optimize")
    assert meta["optimized"] is True
    assert not list(module.parameters())  # frozen: weights are constants
    assert max_diff(module, pairs) <= 1e-4
    # The oneDNN step that LibTorch 1.13 cannot store in a file runs after loading.
    assert max_diff(torch.jit.optimize_for_inference(module), pairs) <= 1e-4


def test_exported_unet_trains_in_python(xcheck, tmp_path):
    """The export is a normal ScriptModule: train mode, autograd and an optimizer work on it."""
    case = next(c for c in CASES if c["id"] == "unet/transpose-depth2-no-norm")
    module, _, pairs = export_case(xcheck, tmp_path, case)
    module.train()
    x = pairs[2][0]
    target = torch.randint(0, 3, (x.shape[0], x.shape[2], x.shape[3]))
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(module(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.9
