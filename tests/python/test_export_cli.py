"""`skipzoo export` with weights made in Python: torchvision state dicts in, torchvision logits
out; strict/non-strict/skip-head imports; clear errors with no output file left behind; and
`skipzoo bench infer` producing valid JSON."""
import json

import pytest
import torch
import torchvision

from conftest import randomize_norm_stats, run

IMAGENET_NORM = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def torchvision_model(name, seed=0, **kwargs):
    torch.manual_seed(seed)
    return randomize_norm_stats(getattr(torchvision.models, name)(**kwargs), seed).eval()


def load_export(path):
    extra = {"skipzoo.json": ""}
    module = torch.jit.load(str(path), _extra_files=extra)
    return module, json.loads(extra["skipzoo.json"])


def fails_cleanly(proc, tmp_path, inputs, *needles, status=1):
    """Exit `status` (1 data, 2 usage) with 'skipzoo: error:' and every needle in stderr; only the
    inputs are left."""
    assert proc.returncode == status, proc.stdout + proc.stderr
    assert proc.stderr.startswith("skipzoo: error: "), proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(inputs)


@pytest.mark.parametrize("name", ["resnet18", "resnext50_32x4d"])
def test_torchvision_weights_give_torchvision_logits(cli, tmp_path, name):
    tv = torchvision_model(name)
    torch.save(dict(tv.state_dict()), tmp_path / "tv.pt")
    run([cli, "export", "--model", name, "--weights", tmp_path / "tv.pt", "--out", tmp_path / "m.ts",
         "--state-dict", tmp_path / "sd.pt", "--metadata", json.dumps({"normalization": IMAGENET_NORM})])
    module, meta = load_export(tmp_path / "m.ts")
    assert meta["model"] == {"name": name, "classes": 1000, "in_channels": 3, "options": meta["model"]["options"],
                             "input_multiple": 1}
    assert meta["normalization"] == IMAGENET_NORM and meta["task"] == "classification"
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        expected = tv(x)
        assert (module(x) - expected).abs().max().item() <= 1e-4
        # --state-dict: a plain dict that torchvision accepts strictly.
        state = torch.load(tmp_path / "sd.pt")
        assert type(state) is dict
        fresh = getattr(torchvision.models, name)().eval()
        fresh.load_state_dict(state, strict=True)
        assert (fresh(x) - expected).abs().max().item() <= 1e-4


def test_optimized_export_of_torchvision_weights(cli, tmp_path):
    tv = torchvision_model("resnet18")
    torch.save(dict(tv.state_dict()), tmp_path / "tv.pt")
    run([cli, "export", "--model", "resnet18", "--weights", tmp_path / "tv.pt", "--out", tmp_path / "m.ts",
         "--optimize"])
    module, meta = load_export(tmp_path / "m.ts")
    assert meta["optimized"] is True
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        assert (module(x) - tv(x)).abs().max().item() <= 1e-4


def test_strict_import_lists_every_problem_and_writes_nothing(cli, tmp_path):
    state = dict(torchvision.models.resnet18(num_classes=10).state_dict())
    del state["layer1.0.conv1.weight"]
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "w.pt")
    proc = run([cli, "export", "--model", "resnet18", "--weights", tmp_path / "w.pt", "--out", tmp_path / "m.ts",
                "--state-dict", tmp_path / "sd.pt"], check=False)
    fails_cleanly(proc, tmp_path, ["w.pt"], str(tmp_path / "w.pt"),
                  "missing in file: layer1.0.conv1.weight", "unexpected in file: extra.weight",
                  "shape mismatch: fc.weight: file [10, 512], model [1000, 512]", "shape mismatch: fc.bias")


def test_no_strict_and_skip_head_allow_another_head(cli, tmp_path):
    tv = torchvision_model("resnet18", num_classes=10)
    state = dict(tv.state_dict())
    torch.save(state, tmp_path / "w.pt")
    # --skip-head: the body comes from the file, the 5-class head from the seeded init.
    proc = run([cli, "export", "--model", "resnet18", "--classes", "5", "--weights", tmp_path / "w.pt",
                "--skip-head", "--out", tmp_path / "skip.ts"])
    assert "skipped: fc.weight" in proc.stdout
    # --no-strict: loads what matches and reports the rest.
    proc = run([cli, "export", "--model", "resnet18", "--weights", tmp_path / "w.pt", "--no-strict",
                "--out", tmp_path / "loose.ts"])
    assert "shape mismatch: fc.weight: file [10, 512], model [1000, 512]" in proc.stdout
    for path, classes in [(tmp_path / "skip.ts", 5), (tmp_path / "loose.ts", 1000)]:
        exported = load_export(path)[0].state_dict()
        assert exported["fc.weight"].shape == (classes, 512)
        for key, value in state.items():
            if not key.startswith("fc."):
                assert torch.equal(exported[key], value), key


def test_ordered_dict_gets_the_dict_fix(cli, tmp_path):
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "od.pt")  # an OrderedDict
    proc = run([cli, "export", "--model", "resnet18", "--weights", tmp_path / "od.pt", "--out",
                tmp_path / "m.ts"], check=False)
    fails_cleanly(proc, tmp_path, ["od.pt"], str(tmp_path / "od.pt"), "OrderedDict",
                  "torch.save(dict(model.state_dict()), f)")


def test_bad_inputs_fail_cleanly_without_output(cli, tmp_path):
    run([cli, "export", "--model", "resnet18", "--out", tmp_path / "r18.ts"])
    data = (tmp_path / "r18.ts").read_bytes()
    (tmp_path / "cut.ts").write_bytes(data[: len(data) // 2])
    (tmp_path / "keep.ts").write_bytes(b"an older export that must survive a failed one")
    inputs = ["r18.ts", "cut.ts", "keep.ts"]

    def export(*args, out="new.ts"):
        return run([cli, "export", *args, "--out", tmp_path / out, "--state-dict", tmp_path / "new.pt"], check=False)

    fails_cleanly(export("--model", "resnet18", "--weights", tmp_path / "missing.pt"), tmp_path, inputs,
                  str(tmp_path / "missing.pt"), "does not exist")
    fails_cleanly(export("--model", "resnet18", "--weights", tmp_path / "cut.ts"), tmp_path, inputs,
                  str(tmp_path / "cut.ts"), "truncated or corrupt")
    # A TorchScript export of another architecture: every difference is listed.
    fails_cleanly(export("--model", "resnet34", "--weights", tmp_path / "r18.ts", out="keep.ts"), tmp_path, inputs,
                  str(tmp_path / "r18.ts"), "missing in file: layer1.2.conv1.weight")
    assert (tmp_path / "keep.ts").read_bytes().startswith(b"an older export")
    fails_cleanly(export("--model", "resnet1000"), tmp_path, inputs, "unknown model 'resnet1000'", status=2)
    fails_cleanly(export("--model", "resnet18", "--metadata", '{"class_names": ["a"]}'), tmp_path, inputs,
                  "has 1 names but the model has 1000 classes", status=2)
    fails_cleanly(export("--model", "basic_block", "--skip-head", "--weights", tmp_path / "r18.ts"), tmp_path,
                  inputs, "has no head", status=2)


def test_export_help_shows_every_flag_with_its_default(cli):
    text = run([cli, "export", "--help"]).stdout
    for flag in ["--model", "--classes", "--in-channels", "--options", "--weights", "--strict", "--no-strict",
                 "--skip-head", "--seed", "--out", "--optimize", "--state-dict", "--metadata"]:
        assert flag in text, flag
    assert "default" in text


@pytest.mark.parametrize("mode", ["eager", "script", "optimized"])
def test_bench_infer_json(cli, tmp_path, mode):
    out = run([cli, "bench", "infer", "--model", "resnet20", "--input", "3,32,32", "--batch", "2",
               "--mode", mode, "--warmup", "1", "--iters", "2", "--json"]).stdout
    result = json.loads(out)
    assert result["mode"] == mode and result["input"] == [2, 3, 32, 32] and result["output"] == [2, 10]
    assert result["ms_median"] > 0 and result["images_per_s"] > 0


def test_bench_infer_on_an_export_file(cli, tmp_path):
    run([cli, "export", "--model", "mlp", "--in-channels", "4", "--out", tmp_path / "mlp.ts"])
    result = json.loads(run([cli, "bench", "infer", "--model", tmp_path / "mlp.ts", "--input", "4",
                             "--iters", "2", "--json"]).stdout)
    assert result["mode"] == "script" and result["output"] == [1, 1]
    proc = run([cli, "bench", "infer", "--model", tmp_path / "mlp.ts", "--mode", "eager", "--input", "4"], check=False)
    assert proc.returncode == 2 and "--mode eager needs a model name" in proc.stderr
