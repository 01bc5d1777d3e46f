#!/usr/bin/python3
"""The Python side of the loader benchmark: torch.utils.data.DataLoader with OpenCV doing the work
of `skipzoo bench loader` -- read PNG image and mask, a 256x256 patch (1/3 of each batch centred on
foreground), the same augmentations with the same probabilities, float CHW + int64 targets.

Run with Debian's /usr/bin/python3 (python3-torch, python3-opencv). Not a test.
"""
import argparse
import glob
import json
import math
import os
import time

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

IGNORE = 255
# Probabilities as skipzoo's AugmentOptions: "full" = every augmentation, "default" = nnU-Net-like.
PRESETS = {
    "full": dict(hflip=1, vflip=1, rot90=1, scale=1, rotate=1, brightness=1, contrast=1, gamma=1, noise=1, blur=1),
    "default": dict(hflip=.5, vflip=.5, rot90=.5, scale=.2, rotate=.2, brightness=.15, contrast=.15, gamma=.3,
                    noise=.1, blur=.2),
    "off": None,
}


def pairs(root):
    dirs = [os.path.join(root, d) for d in ("train", "val")] if os.path.isdir(os.path.join(root, "train")) else [root]
    out = []
    for d in dirs:
        for image in sorted(glob.glob(os.path.join(d, "images", "*.png"))):
            out.append((image, os.path.join(d, "masks", os.path.basename(image))))
    return out


class Patches(Dataset):
    def __init__(self, root, patch, augment):
        self.pairs, self.patch, self.p = pairs(root), patch, PRESETS[augment]
        self.locations = {}  # per worker process: class -> pixel coordinates, computed on first use

    def __len__(self):
        return len(self.pairs)

    def class_locations(self, i, labels):
        if i not in self.locations:
            self.locations[i] = {c: np.argwhere(labels == c) for c in np.unique(labels) if c not in (0, IGNORE)}
        return self.locations[i]

    def __getitem__(self, i):
        rng = np.random.default_rng()
        image_path, mask_path = self.pairs[i]
        image = cv2.cvtColor(cv2.imread(image_path, cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
        labels = cv2.imread(mask_path, cv2.IMREAD_UNCHANGED)
        p, P = self.p, self.patch
        chance = (lambda key: p is not None and rng.random() < p[key])
        hflip, vflip = chance("hflip"), chance("vflip")
        rot = int(rng.integers(1, 4)) if chance("rot90") else 0
        scale = rng.uniform(0.7, 1.4) if chance("scale") else 1.0
        angle = rng.uniform(-15, 15) if chance("rotate") else 0.0
        extent = max(1, round(P / scale))
        # Foreground oversampling: a third of the samples, as skipzoo's default (on average).
        centre = None
        if rng.random() < 1.0 / 3.0:
            where = self.class_locations(i, labels)
            if where:
                points = where[list(where)[rng.integers(len(where))]]
                y, x = points[rng.integers(len(points))]
                centre = (int(x), int(y))
        h, w = labels.shape
        origin = []
        for n, c in ((w, None if centre is None else centre[0]), (h, None if centre is None else centre[1])):
            padded = max(n, extent)
            lo = -((padded - n) // 2)
            hi = lo + padded - extent
            origin.append(min(max(c - extent // 2, lo), hi) if c is not None else int(rng.integers(lo, hi + 1)))
        x0, y0 = origin
        if scale == 1.0 and angle == 0.0:
            img, lab = crop(image, x0, y0, extent, 0), crop(labels, x0, y0, extent, IGNORE)
        else:
            a, f = math.radians(angle), 1.0 / scale
            cx, cy, dc = x0 + (extent - 1) / 2, y0 + (extent - 1) / 2, (P - 1) / 2
            m = np.array([[f * math.cos(a), -f * math.sin(a), 0], [f * math.sin(a), f * math.cos(a), 0]])
            m[0, 2] = cx - m[0, 0] * dc - m[0, 1] * dc
            m[1, 2] = cy - m[1, 0] * dc - m[1, 1] * dc
            flags = cv2.WARP_INVERSE_MAP
            img = cv2.warpAffine(image, m, (P, P), flags=cv2.INTER_LINEAR | flags, borderMode=cv2.BORDER_CONSTANT)
            lab = cv2.warpAffine(labels, m, (P, P), flags=cv2.INTER_NEAREST | flags, borderMode=cv2.BORDER_CONSTANT,
                                 borderValue=IGNORE)
        if hflip:
            img, lab = img[:, ::-1], lab[:, ::-1]
        if vflip:
            img, lab = img[::-1], lab[::-1]
        if rot:
            img, lab = np.rot90(img, rot), np.rot90(lab, rot)
        x = np.ascontiguousarray(img).astype(np.float32) / 255.0
        if chance("noise"):
            x += rng.normal(0.0, rng.uniform(0, 0.1), x.shape).astype(np.float32)
        if chance("blur"):
            s = rng.uniform(0.5, 1.0)
            x = cv2.GaussianBlur(x, (0, 0), s, sigmaY=s, borderType=cv2.BORDER_REFLECT_101)
        if chance("brightness"):
            x *= rng.uniform(0.75, 1.25)
        if chance("contrast"):
            f = rng.uniform(0.75, 1.25)
            mean = x.mean(axis=(0, 1))
            x = (x - mean) * f + mean
        if chance("gamma"):
            g = rng.uniform(0.7, 1.0) if rng.random() < 0.5 else rng.uniform(1.0, 1.5)
            lo, hi = float(x.min()), float(x.max())
            if hi - lo > 1e-7:
                x = np.power((x - lo) / (hi - lo), g) * (hi - lo) + lo
        return torch.from_numpy(x.transpose(2, 0, 1).copy()), torch.from_numpy(np.ascontiguousarray(lab).astype(np.int64))


def crop(src, x0, y0, extent, value):
    """The window [x0, x0+extent) x [y0, y0+extent), padded with `value` outside the image."""
    h, w = src.shape[:2]
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x0 + extent, w), min(y0 + extent, h)
    inside = src[iy0:iy1, ix0:ix1]
    if (ix0, iy0, ix1, iy1) == (x0, y0, x0 + extent, y0 + extent):
        return inside.copy()
    return cv2.copyMakeBorder(inside, iy0 - y0, y0 + extent - iy1, ix0 - x0, x0 + extent - ix1, cv2.BORDER_CONSTANT,
                              value=value)


def worker_init(_):
    cv2.setNumThreads(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--patch", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batches", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--augment", choices=sorted(PRESETS), default="full")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    dataset = Patches(a.data, a.patch, a.augment)
    loader = DataLoader(dataset, batch_size=a.batch, shuffle=True, drop_last=True, num_workers=a.workers,
                        persistent_workers=a.workers > 0, worker_init_fn=worker_init)

    def batches():
        while True:
            yield from loader

    it = batches()
    for _ in range(a.warmup):
        next(it)
    t0 = time.perf_counter()
    for _ in range(a.batches):
        next(it)
    seconds = time.perf_counter() - t0
    rate = a.batches * a.batch / seconds
    if a.json:
        print(json.dumps({"implementation": "python", "patches_per_s": rate, "workers": a.workers, "patch": a.patch,
                          "batch": a.batch, "batches": a.batches, "augment": a.augment, "images": len(dataset),
                          "seconds": seconds}))
    else:
        print(f"python DataLoader: {rate:.1f} patches/s ({a.workers} workers, {a.patch}x{a.patch} patches, "
              f"batch {a.batch}, augment {a.augment}, {len(dataset)} images, {a.batches} batches in {seconds:.2f} s)")


if __name__ == "__main__":
    main()
