"""examples/deploy_opencv (OpenCV only, no LibTorch) writes the masks `skipzoo predict --model
m.onnx` writes, pixel for pixel: tiny U-Nets trained on the shapes set (RGB and gray inputs),
exported to ONNX with several tile, overlap and mask-mapping records, on images of several
sizes, bit depths and channel counts; and clear errors for files it cannot run."""
import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import run, tool

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--threads", "1", "--workers", "1", "--patch", "32", "--batch", "2", "--epochs", "1",
        "--options", '{"depth":2,"base_width":4}']


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("deploy_opencv")


@pytest.fixture(scope="module")
def deploy(work):
    """The example, built as a user would build it (its own CMake project)."""
    build = work / "build"
    run(["cmake", "-S", ROOT / "examples" / "deploy_opencv", "-B", build, "-DCMAKE_BUILD_TYPE=Release"])
    run(["cmake", "--build", build, "-j", "1"])
    return build / "deploy_opencv"


@pytest.fixture(scope="module")
def shapes(work):
    """The shapes set, plus inputs of other kinds made from its first validation image: larger than
    the tiles, 16-bit, gray, RGBA and a 1-pixel-high strip."""
    data = work / "shapes"
    run([tool("SKIPZOO_CLI"), "data", "make-shapes", "--out", data, "--count", "8", "--min-size", "40",
         "--max-size", "90", "--classes", "3", "--seed", "0"])
    inputs = work / "inputs"
    shutil.copytree(data / "val" / "images", inputs)
    first = sorted(inputs.iterdir())[0]
    rgb = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
    big = cv2.resize(np.concatenate([rgb, rgb[::-1]], axis=1), (157, 131), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(inputs / "big.png"), big)
    cv2.imwrite(str(inputs / "deep16.png"), big.astype(np.uint16) * 256 + np.arange(157, dtype=np.uint16)[None, :, None])
    cv2.imwrite(str(inputs / "gray.png"), cv2.cvtColor(big, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(inputs / "alpha.png"), np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)]))
    cv2.imwrite(str(inputs / "strip.png"), big[:1, :70])
    cv2.imwrite(str(inputs / "photo.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return data, inputs


@pytest.fixture(scope="module", params=["rgb", "gray"])
def trained(request, work, shapes):
    """A tiny U-Net trained a few steps (its masks need not be good, only deterministic)."""
    out = work / f"run_{request.param}"
    run([tool("SKIPZOO_CLI"), "train", "seg", "--data", shapes[0], "--out", out, "--channels", request.param,
         "--no-export", *TINY])
    classes = json.loads((out / "config.json").read_text())["model"]["classes"]
    return out, classes


def export(run_dir, path, metadata=None, extra=()):
    args = [tool("SKIPZOO_CLI"), "export", "--checkpoint", run_dir, "--out", path, *extra]
    if metadata is not None:
        args += ["--metadata", json.dumps(metadata)]
    run(args)
    return path


def records(classes):
    """Deployment records: the run's own (512 px tiles: every image padded into one tile; its mask
    mapping has "ignore": null), small tiles with even and uneven overlaps, and masks stored as
    16-bit values (for a class value, or only for the ignore value) or RGB colours. (--metadata is
    merged as a JSON merge patch, where null deletes a key, so no record here sets null itself.)"""
    values16 = {"kind": "values", "values": [300 * c for c in range(classes)], "ignore": 7}
    wide_ignore = {"kind": "values", "values": list(range(classes)), "ignore": 1000}
    colours = {"kind": "colors", "ignore": "#e0e0c0",
               "colors": ["#%02x%02x%02x" % (40 * c, 255 - 50 * c, (90 * c) % 256) for c in range(classes)]}
    return {
        "run": None,
        "tile32": {"tile": 32},
        "tile24_overlap03_16bit": {"tile": 24, "overlap": 0.3, "mask_mapping": values16},
        "tile40_overlap0_colours": {"tile": [40, 28], "overlap": 0.0, "mask_mapping": colours},
        "ignore_16bit": {"tile": 64, "mask_mapping": wide_ignore},
    }


def read(path):
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, f"cannot read {path}"
    return image


@pytest.mark.parametrize("record", ["run", "tile32", "tile24_overlap03_16bit", "tile40_overlap0_colours", "ignore_16bit"])
def test_masks_equal_predict(deploy, shapes, trained, work, record):
    run_dir, classes = trained
    tag = f"{run_dir.name}_{record}"
    model = export(run_dir, work / f"{tag}.onnx", records(classes)[record])
    predicted = work / f"predict_{tag}"
    run([tool("SKIPZOO_CLI"), "predict", "--model", model, "--input", shapes[1], "--out", predicted])
    images = sorted(shapes[1].iterdir())
    assert len(images) >= 8
    for image in images:
        mine = work / f"mine_{tag}_{image.stem}.png"
        run([deploy, model, image, mine])
        expected, got = read(predicted / "masks" / f"{image.stem}.png"), read(mine)
        assert got.dtype == expected.dtype and got.shape == expected.shape, (image.name, got.shape, expected.shape)
        differ = int(np.count_nonzero(np.any((got != expected).reshape(got.shape[0], got.shape[1], -1), axis=2)))
        assert differ == 0, f"{image.name}: {differ} of {got.shape[0] * got.shape[1]} pixels differ ({record})"
    if record in ("tile24_overlap03_16bit", "ignore_16bit"):
        assert expected.dtype == np.uint16
    if record == "tile40_overlap0_colours":
        assert expected.ndim == 3 and expected.shape[2] == 3


def fails(proc, status, *needles):
    assert proc.returncode == status, proc.stdout + proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def test_errors_name_the_file_and_reason(deploy, shapes, trained, work):
    run_dir, _ = trained
    image = sorted(shapes[1].iterdir())[0]
    model = export(run_dir, work / f"errors_{run_dir.name}.onnx")
    out = work / "e.png"
    call = lambda *args: subprocess.run([str(a) for a in (deploy, *args)], capture_output=True, text=True)
    fails(call(model, image), 2, "usage: deploy_opencv MODEL.onnx IMAGE OUT_MASK.png")
    fails(call(model, image, work / "e.jpg"), 2, "e.jpg", ".png")
    fails(call(work / "missing.onnx", image, out), 1, "missing.onnx", "cannot open")
    fails(call(image, image, out), 1, str(image), "not a skipzoo ONNX export")
    fails(call(model, work / "missing.png", out), 1, "missing.png")
    fails(call(model, image, work / "no_such_dir" / "m.png"), 1, "no_such_dir")
    ts = export(run_dir, work / f"errors_{run_dir.name}.ts")
    fails(call(ts, image, out), 1, str(ts), "not a skipzoo ONNX export")
    dynamic = export(run_dir, work / f"errors_dynamic_{run_dir.name}.onnx", extra=["--onnx-shapes", "dynamic"])
    fails(call(dynamic, image, out), 1, str(dynamic), "ONNX Runtime")
    truncated = work / "truncated.onnx"
    truncated.write_bytes(model.read_bytes()[:2000])
    fails(call(truncated, image, out), 1, str(truncated))
    assert not out.exists()
