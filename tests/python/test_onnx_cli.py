"""`skipzoo export` to ONNX and `predict`/`eval` through OpenCV DNN, against the same run's
TorchScript export: the same masks, the same mIoU, the same classes. The references are the
TorchScript files' outputs (LibTorch), an independent runtime from OpenCV DNN."""
import json

import cv2
import numpy as np
import pytest

from conftest import run

TINY_SEG = ["--threads", "1", "--workers", "1", "--patch", "32", "--batch", "2", "--epochs", "1",
            "--options", '{"depth": 2, "base_width": 4}', "--seed", "0"]


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory):
    import os
    cli = os.environ["SKIPZOO_CLI"]
    root = tmp_path_factory.mktemp("seg")
    data = root / "shapes"
    run([cli, "data", "make-shapes", "--out", data, "--count", "10", "--min-size", "40", "--max-size", "90",
         "--classes", "2", "--seed", "1"])
    # A tile that is not a multiple of 4 would not do for a depth-2 U-Net's ONNX graph: 64 is.
    run([cli, "train", "seg", "--data", data, "--out", root / "run", "--tile", "64", *TINY_SEG])
    return cli, root, data


def export(cli, source, out, *extra, check=True):
    return run([cli, "--threads", "1", "export", "--checkpoint", source, "--out", out, *extra], check=check)


def masks(folder):
    return {p.name: cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(folder.glob("*.png"))}


def test_seg_onnx_predicts_and_evaluates_as_the_torchscript_export(seg_run):
    cli, root, data = seg_run
    export(cli, root / "run", root / "m.ts")
    proc = export(cli, root / "run", root / "m.onnx")
    assert "ONNX opset 13, shapes multiple" in proc.stdout
    outs = {}
    for ext in ("ts", "onnx"):
        proc = run([cli, "--threads", "1", "predict", "--model", root / f"m.{ext}", "--input", data / "val" / "images",
                    "--out", root / f"pred_{ext}"])
        outs[ext] = masks(root / f"pred_{ext}" / "masks")
        if ext == "onnx":
            assert "OpenCV DNN" in proc.stderr
        run([cli, "--threads", "1", "eval", "--model", root / f"m.{ext}", "--data", data, "--json", root / f"{ext}.json"])
    assert outs["ts"] and outs["ts"].keys() == outs["onnx"].keys()
    for name, mask in outs["ts"].items():
        assert np.array_equal(mask, outs["onnx"][name]), name
    ts, onnx = (json.load(open(root / f"{ext}.json")) for ext in ("ts", "onnx"))
    assert abs(ts["mIoU"] - onnx["mIoU"]) < 1e-6


def test_cls_onnx_gives_the_torchscript_export_classes(tmp_path, cli):
    rng = np.random.default_rng(0)
    colours = {"red": (30, 30, 220), "green": (30, 220, 30), "blue": (220, 30, 30)}
    for name, colour in colours.items():
        (tmp_path / "set" / name).mkdir(parents=True)
        for i in range(6):
            h, w = rng.integers(20, 50, size=2)
            image = rng.integers(0, 60, size=(h, w, 3), dtype=np.uint8)
            cv2.circle(image, (int(w) // 2, int(h) // 2), int(min(h, w)) // 3, colour, -1)
            cv2.imwrite(str(tmp_path / "set" / name / f"{i}.png"), image)
    run([cli, "train", "cls", "--data", tmp_path / "set", "--out", tmp_path / "run", "--model", "resnet20",
         "--threads", "1", "--workers", "1", "--patch", "24", "--batch", "8", "--epochs", "1", "--seed", "0"])
    results = {}
    for ext in ("ts", "onnx"):
        export(cli, tmp_path / "run", tmp_path / f"m.{ext}")
        run([cli, "--threads", "1", "predict", "--model", tmp_path / f"m.{ext}", "--input", tmp_path / "set",
             "--json", tmp_path / f"{ext}.json", "--topk", "3"])
        results[ext] = json.load(open(tmp_path / f"{ext}.json"))
    assert len(results["ts"]) == 18
    for a, b in zip(results["ts"], results["onnx"]):
        assert a["image"] == b["image"]
        assert [t["class"] for t in a["top"]][:1] == [t["class"] for t in b["top"]][:1]
        pa = {t["class"]: t["probability"] for t in a["top"]}
        pb = {t["class"]: t["probability"] for t in b["top"]}
        assert pa.keys() == pb.keys() and all(abs(pa[k] - pb[k]) < 1e-4 for k in pa)


def test_onnx_bad_inputs_fail_before_writing_with_clear_messages(seg_run):
    cli, root, data = seg_run
    images = data / "val" / "images"

    def refused(proc, status, *needles):
        assert proc.returncode == status, proc.stdout + proc.stderr
        assert proc.stderr.startswith("skipzoo: error: ") and "frame #" not in proc.stderr, proc.stderr
        for needle in needles:
            assert needle in proc.stderr, proc.stderr

    out = root / "bad.onnx"
    refused(export(cli, root / "run", out, "--onnx-shapes", "static:30x30", check=False), 2, "64x64 tiles")
    refused(export(cli, root / "run", out, "--onnx-shapes", "sideways", check=False), 2, "unknown ONNX shapes")
    refused(export(cli, root / "run", out, "--optimize", check=False), 2, "--optimize applies to TorchScript")
    refused(export(cli, root / "run", root / "bad.ts", "--opset", "17", check=False), 2, "apply to ONNX exports")
    refused(export(cli, root / "run", out, "--opset", "12", check=False), 2, "--opset")
    assert not out.exists() and not (root / "bad.ts").exists()

    # A truncated file and a graph only ONNX Runtime runs are named with the reason.
    export(cli, root / "run", root / "full.onnx")
    data_bytes = (root / "full.onnx").read_bytes()
    (root / "cut.onnx").write_bytes(data_bytes[: len(data_bytes) // 2])
    refused(run([cli, "predict", "--model", root / "cut.onnx", "--input", images, "--out", root / "p1"], check=False), 1,
            str(root / "cut.onnx"), "truncated or corrupt")
    export(cli, root / "run", root / "dyn.onnx", "--onnx-shapes", "dynamic")
    refused(run([cli, "predict", "--model", root / "dyn.onnx", "--input", images, "--out", root / "p2"], check=False), 1,
            "needs ONNX Runtime", "--onnx-shapes multiple")
