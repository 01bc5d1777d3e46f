"""The candidate speed-ups of issue 8, each measured alone by bench/compare_pytorch.py --ablations:
the same workload with and without the change, runs alternating, median of repeats. The
table says which setting skipzoo uses; docs/benchmarks.md explains each verdict."""
import os
import statistics


def env_with(**values):
    return {**os.environ, **values}


NO_CACHE = env_with(SKIPZOO_CPU_CACHE_MB="0")


def experiments(runner, args):
    """(change, workload, (label A, cmd A, env A), (label B, cmd B, env B), metric, skipzoo's choice)."""
    cpp = runner.cpp

    def train(model, batch, shape, *extra, threads=None):
        prefix = cpp if threads is None else [args.cli, "--threads", str(threads), "bench"]
        return prefix + ["train", "--model", model, "--batch", str(batch), "--input", shape, "--steps", str(args.steps),
                         "--warmup", str(args.warmup), "--json", *extra]

    def py_train(model, batch, shape, *extra):
        return [c for c in runner.train_cmds(model, batch, shape, extra) if c[0] == "pytorch"][0][1]

    def infer(model, shape, *extra):
        return cpp + ["infer", "--model", model, "--input", shape, "--mode", "eager", "--iters", str(args.iters),
                      "--warmup", str(args.infer_warmup), "--json", *extra]

    big = [("resnet18", 16, "3,224,224"), ("resnet50", 8, "3,224,224"), ("unet", 4, "3,256,256"),
           ("resnet20", 128, "3,32,32")]
    out = []
    for model, batch, shape in big:
        name = f"train {model} bs{batch}"
        out.append(("CPU block cache (SKIPZOO_CPU_CACHE_MB)", name, ("off", train(model, batch, shape), NO_CACHE),
                    ("on", train(model, batch, shape), None), "images_per_s", "on"))
    for model, batch, shape in big:
        name = f"train {model} bs{batch}"
        out.append(("channels-last (skipzoo)", name,
                    ("contiguous", train(model, batch, shape, "--layout", "contiguous"), None),
                    ("channels-last", train(model, batch, shape, "--layout", "channels-last"), None), "images_per_s",
                    "measured per machine (`--layout auto`)"))
    for model, batch, shape in [("resnet18", 16, "3,224,224"), ("unet", 4, "3,256,256")]:
        out.append(("channels-last (PyTorch)", f"train {model} bs{batch}",
                    ("contiguous", py_train(model, batch, shape), None),
                    ("channels-last", py_train(model, batch, shape, "--channels-last"), None), "images_per_s", "-"))
    for model, batch, shape in [("resnet20", 128, "3,32,32"), ("resnet50", 8, "3,224,224")]:
        out.append(("zero_grad(set_to_none)", f"train {model} bs{batch}",
                    ("zeros", train(model, batch, shape, "--zero-grad", "zeros"), None),
                    ("set_to_none", train(model, batch, shape), None), "images_per_s", "set_to_none"))
    for model, batch, shape in [("resnet18", 16, "3,224,224"), ("resnet20", 128, "3,32,32")]:
        out.append(("intra-op threads", f"train {model} bs{batch}",
                    ("1 thread", train(model, batch, shape, threads=1), None),
                    (f"{args.threads} threads", train(model, batch, shape), None), "images_per_s",
                    "all cores (--threads)"))
    for model, shape in [("resnet50", "3,224,224"), ("unet", "3,512,512")]:
        out.append(("InferenceMode vs NoGradGuard", f"infer {model} bs1 eager",
                    ("NoGradGuard", infer(model, shape, "--grad-mode", "no-grad"), None),
                    ("InferenceMode", infer(model, shape), None), "ms_median", "InferenceMode"))
    for workers in (1, 2):
        loader = dict(runner.loader_cmds(workers))["skipzoo"]
        out.append(("PNG decoder (SKIPZOO_PNG_DECODER)", f"loader 256² patches, {workers} worker{'s' if workers > 1 else ''}",
                    ("libpng (OpenCV)", loader, env_with(SKIPZOO_PNG_DECODER="libpng")),
                    ("libdeflate", loader, None), "patches_per_s", "libdeflate (8/16-bit gray, RGB, RGBA; 8-bit palette)"))
    return out


def run(runner, args):
    rows = []
    for change, workload, a, b, metric, choice in experiments(runner, args):
        values = {a[0]: [], b[0]: []}
        for rep in range(args.repeats):
            order = [a, b] if rep % 2 == 0 else [b, a]
            for label, cmd, env in order:
                values[label].append(runner.run(label, cmd, env)[metric])
        ma, mb = statistics.median(values[a[0]]), statistics.median(values[b[0]])
        gain = ma / mb if metric == "ms_median" else mb / ma  # > 1: the second setting is faster
        rows.append({"change": change, "workload": workload, "a": a[0], "b": b[0], "metric": metric,
                     "value_a": ma, "value_b": mb, "gain": gain, "choice": choice,
                     "values_a": values[a[0]], "values_b": values[b[0]]})
        print(f"  {change}, {workload}: {a[0]} {ma:.2f}, {b[0]} {mb:.2f} ({metric}): {b[0]} is {gain:.3f}x", flush=True)
    return rows


def table(rows):
    lines = ["| change | workload | A | B | A | B | B / A speed | skipzoo uses |", "|---|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        unit = {"ms_median": " ms", "patches_per_s": " patches/s"}.get(r["metric"], " img/s")
        lines.append(f"| {r['change']} | {r['workload']} | {r['a']} | {r['b']} | {r['value_a']:.2f}{unit} | "
                     f"{r['value_b']:.2f}{unit} | **{r['gain']:.3f}x** | {r['choice']} |")
    return "\n".join(lines)
