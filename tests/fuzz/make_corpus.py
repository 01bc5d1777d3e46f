#!/usr/bin/python3
"""Writes the fuzz targets' seed corpus (tests/fuzz/corpus/): one small valid file of each kind
the readers take, in each target's input format (see the targets' headers). Deterministic; run
it again after changing a target's input format."""
import pathlib
import struct
import zlib

import cv2
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
CRC_FIX = b"\x01"  # odd first byte: the target repairs PNG CRCs


def chunk(kind, payload):
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def palette_png(indices, palette, trns=None):
    h, w = indices.shape
    raw = b"".join(b"\x00" + row.tobytes() for row in indices.astype(np.uint8))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0))
    out += chunk(b"PLTE", bytes(c for rgb in palette for c in rgb))
    if trns is not None:
        out += chunk(b"tRNS", bytes(trns))
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def encoded(ext, image, params=()):
    ok, buf = cv2.imencode(ext, image, list(params))
    assert ok
    return buf.tobytes()


def main():
    rng = np.random.default_rng(0)
    u8 = lambda *shape: rng.integers(0, 256, shape, dtype=np.uint8)
    u16 = lambda *shape: rng.integers(0, 65536, shape, dtype=np.uint16)
    pngs = {
        "gray8": encoded(".png", u8(5, 3)),
        "gray16": encoded(".png", u16(4, 4)),
        "rgb8": encoded(".png", u8(3, 5, 3)),
        "rgb16": encoded(".png", u16(2, 3, 3)),
        "rgba8": encoded(".png", u8(4, 2, 4)),
        "rgba16-uncompressed": encoded(".png", u16(2, 2, 4), (cv2.IMWRITE_PNG_COMPRESSION, 0)),
        "palette": palette_png(rng.integers(0, 3, (4, 6)), [(0, 0, 0), (128, 0, 0), (224, 224, 192)]),
        "palette-trns": palette_png(rng.integers(0, 2, (3, 3)), [(0, 0, 0), (0, 128, 0)], trns=[0, 255]),
    }
    others = {
        "gray.jpg": encoded(".jpg", u8(8, 8)),
        "rgb.jpg": encoded(".jpg", u8(8, 16, 3)),
        "rgb.bmp": encoded(".bmp", u8(3, 4, 3)),
        "gray16.tif": encoded(".tif", u16(3, 3)),
        "rgb8.tif": encoded(".tif", u8(2, 5, 3)),
    }
    masks = {
        "binary-0-255": b"0,255\n" + bytes([0, 4]) + bytes(rng.choice([0, 255], 16).astype(np.uint8)),
        "identity-ignore": b"identity:3\n" + bytes([0, 3]) + bytes([0, 1, 2, 255, 1, 0]),
        "gray16-values": b"0,1000,65535\n" + bytes([1, 2]) + np.array([0, 1000, 65535, 0], "<u2").tobytes(),
        "voc-rgb": b"voc:3\n" + bytes([2, 2]) + bytes([0, 0, 0, 128, 0, 0, 224, 224, 192, 0, 128, 0]),
        "colours-rgba": b"#000000,#ff0000\n" + bytes([3, 2]) + bytes([0, 0, 0, 255, 255, 0, 0, 255] * 2),
        "voc-gray": b"voc\n" + bytes([0, 2]) + bytes([0, 0, 0, 0]),
        "bad-spec": b"identity:abc\n" + bytes([0, 1, 0]),
    }
    # fuzz_png_decode's recipes (first byte 0x02): width, height, kind (its table), IDAT split,
    # palette size, then the raw scanlines, filter types 0..4 in turn
    kinds = [(8, 1), (16, 1), (8, 3), (16, 3), (8, 2), (16, 2), (8, 4), (16, 4), (8, 1), (1, 1), (4, 1), (2, 1)]
    recipes = {}
    for index, (depth, channels) in enumerate(kinds):
        width, height = 5, 3
        row = (width * channels * depth + 7) // 8
        raw = b"".join(bytes([y % 5]) + bytes(rng.integers(0, 256, row, dtype=np.uint8)) for y in range(height))
        recipes[f"recipe-{index}"] = b"\x02" + bytes([width - 1, height - 1, index, 2, 255]) + raw
    targets = {
        "png_decode": {**{name: CRC_FIX + data for name, data in pngs.items()}, **recipes},
        # mode byte (channels/alpha policy), then the CRC byte, then the file
        "image_read": {**{f"{name}-{mode}": bytes([mode]) + CRC_FIX + data
                          for name, data in pngs.items() for mode in (0, 3)},
                       **{f"{name}-{mode}": bytes([mode]) + CRC_FIX + data
                          for name, data in others.items() for mode in (1, 2)}},
        "mask_mapping": masks,
    }
    for target, files in targets.items():
        folder = HERE / "corpus" / target
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        print(f"{folder.relative_to(HERE)}: {len(files)} seeds")


if __name__ == "__main__":
    main()
