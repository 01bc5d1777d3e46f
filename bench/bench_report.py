"""Tables and docs/benchmarks.md for bench/compare_pytorch.py: the machine, the ratio table, the
GPU and ablation tables, and the bar chart (drawn by `skipzoo bench chart`, no plotting package).
The generated parts of the doc sit between markers; the analysis written around them stays."""
import datetime
import json
import os
import platform
import re
import subprocess
import tempfile
import time

import torch


def machine(args, command):
    cpu, flags = cpu_info()
    try:
        import torchvision
        tv = torchvision.__version__
    except ImportError:
        tv = "not installed"
    version = subprocess.run([args.cli, "--version"], capture_output=True, text=True).stdout.strip()
    debian = open("/etc/debian_version").read().strip() if os.path.exists("/etc/debian_version") else "?"
    m = {"cpu": cpu, "flags": flags, "cores": os.cpu_count(), "threads": args.threads, "load_start": os.getloadavg(),
         "started": time.time(), "date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
         "torch": torch.__version__, "torchvision": tv, "skipzoo": version, "python": platform.python_version(),
         "kernel": platform.release(), "debian": debian, "command": command, "device": args.device}
    if args.device != "cpu" and torch.cuda.is_available():
        m["gpu"] = torch.cuda.get_device_name(0)
    return m


def cpu_info():
    """(model name, its AVX/AMX flags as `grep -o 'avx[^ ]*' /proc/cpuinfo | sort -u` lists them)."""
    cpu, flags = "unknown CPU", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and cpu == "unknown CPU":
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags |= {w for w in line.split(":", 1)[1].split() if w.startswith(("avx", "amx"))}
    return cpu, " ".join(sorted(flags))


def load_text(load):
    return " / ".join(f"{v:.2f}" for v in load)


def machine_line(m):
    return (f"{m['cpu']} ({m.get('flags', '?')}), {m['cores']} cores, {m['threads']} threads, load {load_text(m['load_start'])}; "
            f"torch {m['torch']}, torchvision {m['torchvision']}, skipzoo {m['skipzoo']}" +
            (f"; GPU {m['gpu']}" if "gpu" in m else ""))


def peak_line(peak):
    return (f"conv peak ({peak['conv']}, batch {peak['batch']}, {peak['dtype']}): forward {peak['forward_gflops']:.1f} "
            f"GFLOP/s, forward + backward {peak['training_gflops']:.1f} GFLOP/s")


def workload(r):
    if r["kind"] == "train":
        return f"train {r['model']} bs{r['batch']} {r['input'].replace(',', 'x')}"
    if r["kind"] == "infer":
        side = "Python eager" if r["against"] == "pytorch eager" else "Python optimized"
        return f"infer {r['model']} bs1 {r['input'].split(',', 1)[1].replace(',', 'x')} {r['mode']} vs {side}"
    return f"loader 256² patches, {r['model']}"


def value(v, unit):
    return f"{v:.1f} ms" if unit == "ms" else f"{v:.1f} {unit}"


def row_line(r):
    layouts = f" ({r['layout']} vs PyTorch's faster {r['py_layout']})" if "py_layout" in r else ""
    return f"  {workload(r)}: skipzoo {value(r['skipzoo'], r['unit'])}, PyTorch {value(r['pytorch'], r['unit'])}, " \
           f"ratio {r['ratio']:.2f}x{layouts}"


def table(results, gpu_results=None):
    peak = results["peak"]["training_gflops"]
    lines = ["| workload | skipzoo | PyTorch | skipzoo / PyTorch | each repeat | target | met | layouts | "
             "skipzoo GFLOP/s | % of fwd+bwd conv peak |", "|---|---:|---:|---:|---|---:|:-:|---|---:|---:|"]
    for r in results["rows"]:
        target = r.get("target")
        gflops = f"{r['gflops']:.1f}" if "gflops" in r else ""
        frac = f"{100 * r['gflops'] / peak:.0f}%" if "gflops" in r else ""
        lines.append(f"| {workload(r)} | {value(r['skipzoo'], r['unit'])} | {value(r['pytorch'], r['unit'])} | "
                     f"**{r['ratio']:.2f}x** | {', '.join(f'{x:.2f}' for x in r['ratios'])} | "
                     f"{f'≥ {target:.2f}x' if target else ''} | {('yes' if r['ratio'] >= target else 'no') if target else ''} | "
                     f"{layouts_cell(r)} | {gflops} | {frac} |")
    out = "\n".join(lines)
    if gpu_results:
        out += "\n\n" + gpu_table(gpu_results)
    return out


def layouts_cell(r):
    """Training rows: skipzoo's chosen layout, and PyTorch's images/s in each layout."""
    if "py_layouts" not in r:
        return ""
    names = {"pytorch": "PyTorch contiguous", "pytorch channels-last": "PyTorch channels-last"}
    py = ", ".join(f"{names.get(k, k)} {v:.1f}" for k, v in r["py_layouts"].items())
    return f"skipzoo {r['layout']}; {py}"


def gpu_table(g):
    m = g["machine"]
    lines = [f"GPU: {m.get('gpu', '?')}, torch {m['torch']}, bf16 autocast + channels-last on both sides, "
             f"median of {g['repeats']} alternating repeats of {g['steps']} steps; {peak_line(g['peak'])}.", "",
             "| workload | skipzoo images/s | PyTorch images/s | skipzoo / PyTorch | skipzoo GFLOP/s |",
             "|---|---:|---:|---:|---:|"]
    for r in g["rows"]:
        lines.append(f"| {workload(r)} | {r['skipzoo']:.1f} | {r['pytorch']:.1f} | **{r['ratio']:.2f}x** | "
                     f"{r['gflops']:.0f} |")
    return "\n".join(lines)


def machine_block(m):
    return "\n".join([
        f"- Run: {m['date']}, {m['minutes']:.1f} minutes; command: `{m['command']}`",
        f"- Machine: {m['cpu']}, {m['cores']} cores; {m['threads']} threads on both sides; Debian {m['debian']}, "
        f"Linux {m['kernel']}",
        f"- CPU flags: {m.get('flags', '?')}" + ("" if "avx512f" in m.get("flags", "") else " (no AVX-512)"),
        f"- Load average (1/5/15 min): {load_text(m['load_start'])} at the start, {load_text(m['load_end'])} at the end",
        f"- Versions: skipzoo {m['skipzoo']}, LibTorch and torch {m['torch']}, torchvision {m['torchvision']}, "
        f"Python {m['python']}"])


def replace_block(text, name, body, writer="bench/compare_pytorch.py"):
    begin, end = f"<!-- {name}: begin ({writer} writes this) -->", f"<!-- {name}: end -->"
    block = f"{begin}\n{body}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    return pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"


def short_label(r):
    """The chart's x label of a table row (the chart wraps it at spaces)."""
    if r["kind"] == "train":
        return f"train {r['model']} bs{r['batch']}"
    if r["kind"] == "infer":
        return f"infer {r['model']} {r['mode']} vs py {'eager' if r['against'] == 'pytorch eager' else 'optimized'}"
    return f"loader {r['model']}"


def chart(results, cli, path):
    rows = results["rows"]
    spec = {"title": "skipzoo / PyTorch (same machine, same run; higher is better)",
            "y_label": "speed ratio", "reference": 1.0,
            "labels": [short_label(r) for r in rows],
            "groups": [{"name": "measured", "values": [r["ratio"] for r in rows]},
                       {"name": "target", "values": [r["target"] for r in rows]}]}  # None: no bar
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        subprocess.run([cli, "bench", "chart", "--in", f.name, "--out", path], check=True, capture_output=True)
    finally:
        os.unlink(f.name)


def report(results, gpu_results):
    """The tables of this run, as printed and as written into the doc."""
    if "ablations" in results:
        import ablations
        return ablations.table(results["ablations"])
    if "ttq" in results:
        import time_to_quality
        return time_to_quality.table(results["ttq"])
    return table(results, gpu_results)


def write_doc(path, results, gpu_results, cli):
    """Replaces the blocks this run measured; the rest of the doc stays as written."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks: skipzoo against PyTorch\n"
    m = results["machine"]
    runs = f"- Repeats: {results['repeats']} alternating runs per measurement, {results['steps']} timed steps each"
    if "ablations" in results:
        text = replace_block(text, "ablations", machine_block(m) + "\n" + runs + "\n\n" + report(results, None))
    elif "ttq" in results:
        import time_to_quality
        first = results["ttq"][0]
        how = (f"- Each side trains once per data set for T = {first['time']:.0f} s of wall time, one after the other "
               f"(who goes first alternates); skipzoo: `{first['skipzoo']['command']}`; PyTorch: "
               f"`{first['pytorch']['command']}`")
        text = replace_block(text, "time-to-quality", machine_block(m) + "\n" + how + "\n\n" + report(results, None) +
                             "\n\n![mIoU against wall time](time_to_quality.png)")
        time_to_quality.chart(results["ttq"], cli, os.path.join(os.path.dirname(path), "time_to_quality.png"))
    else:
        text = replace_block(text, "results", machine_block(m) + "\n" + runs + f"; {peak_line(results['peak'])}\n\n" +
                             table(results) + "\n\n![skipzoo / PyTorch](benchmarks.png)")
        chart(results, cli, os.path.join(os.path.dirname(path), "benchmarks.png"))
    if gpu_results:
        text = replace_block(text, "gpu", gpu_table(gpu_results))
    with open(path, "w") as f:
        f.write(text)
