#!/usr/bin/python3
"""Deployment without LibTorch, measured: latency and peak memory of U-Net 512x512 and ResNet-50
224x224 inference through OpenCV DNN (the ONNX export) against the optimized TorchScript export
(LibTorch, frozen + optimize_for_inference), one after the other in the same run, and the
installed size of the shared libraries each deployment needs.

  /usr/bin/python3 bench/deploy_compare.py [--cli build/apps/skipzoo] [--threads N] [--iters 20]
        [--work /tmp/skipzoo_deploy] [--results-json OUT]

Latency: `skipzoo bench infer` on each file (median of --iters forward calls after 3 warm-up
calls; the same random input shape). Peak RSS of a deployment: examples/deploy_opencv (OpenCV
only, nothing else loaded) segmenting a 512x512 image with the U-Net's .onnx, against `skipzoo
bench infer` on the .ts (a process that also maps OpenCV, so LibTorch's side is if anything
overstated by the few MiB OpenCV touches). Installed size: the files of `ldd`'s closure, with
the C/C++ runtime that every program needs left out.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELS = [  # name, export flags, input C,H,W
    ("unet", ["--model", "unet", "--in-channels", "3", "--classes", "2", "--metadata", '{"tile": 512}'], "3,512,512"),
    ("resnet50", ["--model", "resnet50"], "3,224,224"),
]
BASE_LIBS = ("linux-vdso", "ld-linux", "libc.so", "libm.so", "libstdc++", "libgcc_s", "libpthread", "libdl.so",
             "librt.so")


def sh(cmd, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc


def peak_rss_mib(cmd):
    """Peak resident memory of a command, from GNU time's %M (KiB)."""
    proc = sh(["/usr/bin/time", "-f", "%M", *cmd])
    return int(proc.stderr.strip().splitlines()[-1]) / 1024


def closure_mib(binary):
    """Total size of the shared libraries `binary` loads, the C/C++ runtime left out."""
    total, libs = 0, []
    for line in sh(["ldd", binary]).stdout.splitlines():
        parts = line.split("=>")
        path = parts[1].split("(")[0].strip() if len(parts) == 2 else ""
        if not path or any(base in line for base in BASE_LIBS):
            continue
        libs.append(os.path.basename(path))
        total += os.path.getsize(os.path.realpath(path))
    return total / 2**20, len(libs)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cli", default=os.path.join(ROOT, "build", "apps", "skipzoo"))
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "skipzoo_deploy"))
    p.add_argument("--results-json")
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    flags = sorted({f for line in open("/proc/cpuinfo") if line.startswith("flags")
                    for f in line.split(":", 1)[1].split() if f.startswith("avx")})
    results = {"cpu": cpu, "avx_flags": flags, "threads": a.threads, "models": {}}

    example = os.path.join(a.work, "deploy_build")
    sh(["cmake", "-S", os.path.join(ROOT, "examples", "deploy_opencv"), "-B", example, "-DCMAKE_BUILD_TYPE=Release"])
    sh(["cmake", "--build", example])
    deploy = os.path.join(example, "deploy_opencv")

    for name, export_flags, shape in MODELS:
        ts, onnx = (os.path.join(a.work, f"{name}.{ext}") for ext in ("ts", "onnx"))
        sh([a.cli, "export", *export_flags, "--optimize", "--out", ts])
        sh([a.cli, "export", *export_flags, "--out", onnx])
        row = {"input": shape}
        for kind, path, mode in (("torchscript", ts, "optimized"), ("onnx", onnx, "onnx")):
            out = sh([a.cli, "--threads", a.threads, "bench", "infer", "--model", path, "--mode", mode, "--input", shape,
                      "--warmup", "3", "--iters", a.iters, "--json"]).stdout
            r = json.loads(out)
            row[kind] = {"ms_median": r["ms_median"], "peak_rss_mib": r["peak_rss_mib"]}
        if name == "unet":  # a deployment process that holds OpenCV alone
            image = os.path.join(a.work, "image512.png")
            sh([sys.executable, "-c", f"import cv2, numpy as np; cv2.imwrite({image!r}, "
                                      "np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8))"])
            row["onnx"]["deploy_peak_rss_mib"] = peak_rss_mib(
                [deploy, onnx, image, os.path.join(a.work, "mask.png")])
        row["ratio_onnx_over_ts"] = row["onnx"]["ms_median"] / row["torchscript"]["ms_median"]
        results["models"][name] = row

    torch_lib = next(os.path.join(d, "libtorch_cpu.so") for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib")
                     if os.path.exists(os.path.join(d, "libtorch_cpu.so")))
    torch_mib, torch_n = closure_mib(torch_lib)
    torch_mib += os.path.getsize(os.path.realpath(torch_lib)) / 2**20
    opencv_mib, opencv_n = closure_mib(deploy)
    results["installed"] = {"libtorch_mib": torch_mib, "libtorch_libraries": torch_n + 1,
                            "opencv_dnn_mib": opencv_mib, "opencv_libraries": opencv_n}

    print(f"{cpu} ({' '.join(flags)}), {a.threads} threads")
    print("| model | input | TorchScript optimized (LibTorch) | ONNX (OpenCV DNN) | ONNX / TS | peak RSS TS / ONNX |")
    print("|---|---|---|---|---|---|")
    for name, row in results["models"].items():
        rss = f"{row['torchscript']['peak_rss_mib']:.0f} / {row['onnx'].get('deploy_peak_rss_mib', row['onnx']['peak_rss_mib']):.0f} MiB"
        print(f"| {name} | {row['input']} | {row['torchscript']['ms_median']:.1f} ms | {row['onnx']['ms_median']:.1f} ms "
              f"| {row['ratio_onnx_over_ts']:.2f}x | {rss} |")
    i = results["installed"]
    print(f"installed: LibTorch {i['libtorch_mib']:.0f} MiB in {i['libtorch_libraries']} libraries; "
          f"OpenCV DNN {i['opencv_dnn_mib']:.0f} MiB in {i['opencv_libraries']} libraries")
    if a.results_json:
        with open(a.results_json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
