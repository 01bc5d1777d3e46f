#!/usr/bin/python3
"""A plain PyTorch training loop for segmentation: the baseline of the time-to-quality benchmark
(bench/time_to_quality.py). What a user writes without skipzoo, with nnU-Net's optimizer: skipzoo's
U-Net (bench/py_zoo.py, the same network and initialisation scheme), uniform random patches with
flips and quarter turns, cross-entropy + soft Dice, SGD with Nesterov momentum 0.99 at lr 0.01,
images held in memory, no loader processes. It trains until --time seconds after the process
started, then saves its weights; --snapshots N also saves N evenly spaced snapshots (the clock
stops while it writes them) for a curve. Every saved file is a dict for `skipzoo export --weights`.

  ttq_loop.py --data DIR --time 600 --out OUT [--patch 128] [--batch 8] [--threads 2] [--snapshots 10]
"""
import time

STARTED = time.time()  # before the imports: the budget covers everything, as skipzoo's does

import argparse
import glob
import json
import os
import sys

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from py_zoo import UNet  # noqa: E402


def load(folder):
    images = sorted(glob.glob(os.path.join(folder, "images", "*.png")))
    xs = [cv2.imread(p, cv2.IMREAD_UNCHANGED) for p in images]
    ys = [cv2.imread(os.path.join(folder, "masks", os.path.basename(p)), cv2.IMREAD_UNCHANGED) for p in images]
    return [x if x.ndim == 3 else x[:, :, None] for x in xs], ys


def patch(x, y, size, rng):
    h, w = y.shape
    x = np.pad(x, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)))
    y = np.pad(y, ((0, max(0, size - h)), (0, max(0, size - w))), constant_values=255)  # 255: ignored
    r, c = rng.integers(0, y.shape[0] - size + 1), rng.integers(0, y.shape[1] - size + 1)
    x, y = x[r:r + size, c:c + size], y[r:r + size, c:c + size]
    if rng.random() < 0.5:
        x, y = x[:, ::-1], y[:, ::-1]
    if rng.random() < 0.5:
        x, y = x[::-1], y[::-1]
    k = rng.integers(4)
    return np.rot90(x, k), np.rot90(y, k)


def soft_dice(logits, target, classes):
    valid = (target != 255).unsqueeze(1)
    probs = logits.softmax(1) * valid
    onehot = F.one_hot(target.clamp(max=classes - 1), classes).permute(0, 3, 1, 2) * valid
    inter, total = (probs * onehot).sum((0, 2, 3)), (probs + onehot).sum((0, 2, 3))
    return 1 - ((2 * inter + 1) / (total + 1)).mean()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--time", type=float, required=True, help="seconds from process start")
    p.add_argument("--out", required=True)
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--snapshots", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)

    xs, ys = load(os.path.join(a.data, "train"))
    values = np.unique(np.concatenate([np.unique(y) for y in ys]))  # mask values -> classes 0..K-1
    lut = np.full(256, 255, np.uint8)
    lut[values] = np.arange(len(values))
    ys = [lut[y] for y in ys]
    pixels = np.concatenate([x.reshape(-1, x.shape[2]) for x in xs]) / 255.0
    mean, std = pixels.mean(0), pixels.std(0)
    model = UNet(in_channels=xs[0].shape[2], classes=len(values), depth=a.depth, base_width=a.width).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.99, nesterov=True, weight_decay=3e-5)

    log, paused, next_snapshot, step = [], 0.0, 1, 0
    while time.time() - STARTED - paused < a.time:
        picks = rng.integers(len(xs), size=a.batch)
        batch = [patch(xs[i], ys[i], a.patch, rng) for i in picks]
        x = torch.from_numpy((np.stack([b[0] for b in batch]) / 255.0 - mean) / std).float().permute(0, 3, 1, 2)
        y = torch.from_numpy(np.stack([b[1] for b in batch]).astype(np.int64))
        logits = model(x.contiguous())
        loss = F.cross_entropy(logits, y, ignore_index=255) + soft_dice(logits, y, len(values))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        elapsed = time.time() - STARTED - paused
        if a.snapshots and elapsed >= next_snapshot * a.time / a.snapshots and next_snapshot < a.snapshots:
            t0 = time.time()
            torch.save(dict(model.state_dict()), os.path.join(a.out, f"snapshot_{next_snapshot:02d}.pt"))
            log.append({"snapshot": next_snapshot, "elapsed": elapsed, "step": step})
            next_snapshot += 1
            paused += time.time() - t0
    elapsed = time.time() - STARTED - paused
    torch.save(dict(model.state_dict()), os.path.join(a.out, "final.pt"))
    log.append({"snapshot": "final", "elapsed": elapsed, "step": step, "loss": loss.item()})
    meta = {"classes": len(values), "mask_values": values.tolist(), "mean": mean.tolist(), "std": std.tolist(),
            "in_channels": xs[0].shape[2], "steps": step, "seconds": elapsed, "log": log}
    json.dump(meta, open(os.path.join(a.out, "loop.json"), "w"), indent=1)
    print(json.dumps({"steps": step, "seconds": elapsed, "last_loss": loss.item()}))


if __name__ == "__main__":
    main()
