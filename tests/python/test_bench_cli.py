"""`skipzoo bench train|peak|loader|chart` and the Python side (bench/python_bench.py) run on tiny
shapes and print valid JSON whose counts match independent references (hand-computed MACs,
the Python network's parameter count). Timings are never asserted."""
import json
import os
import struct
import sys

import pytest

from conftest import run

BENCH = os.path.join(os.environ.get("SKIPZOO_SOURCE_DIR", ""), "bench")


def bench(cli, *args, env=None):
    proc = run([cli, "--threads", "1", "bench", *args, "--json"], env=env)
    return json.loads(proc.stdout)


def fails(cli, *args, env=None, status=1):
    """Exit `status` (1 runtime or data, 2 usage) with a one-line 'skipzoo: error:' message."""
    proc = run([cli, "bench", *args], check=False, env=env)
    assert proc.returncode == status and proc.stderr.startswith("skipzoo: error: "), proc.stdout + proc.stderr
    return proc.stderr


def test_train_reports_a_full_step_with_hand_counted_macs(cli):
    # basic_block 64 -> 64 on 8x8: two 3x3 convs of 64*8*8 outputs, 64*9 MACs each.
    r = bench(cli, "train", "--model", "basic_block", "--batch", "2", "--input", "64,8,8", "--steps", "2",
              "--warmup", "1")
    assert r["macs_per_image"] == 2 * 64 * 8 * 8 * 64 * 9
    assert r["task"] == "features" and r["params"] == 2 * 64 * 64 * 9 + 4 * 64
    assert r["steps"] == 2 and r["batch"] == 2 and r["threads"] == 1 and r["input"] == [64, 8, 8]
    step = r["step_s"]
    assert 0 < step["min"] <= step["median"] <= step["max"] and r["s_per_step"] == step["median"]
    assert r["images_per_s"] == pytest.approx(2 / step["median"])
    assert r["gflops"] == pytest.approx(3 * 2 * r["macs_per_image"] * 2 / step["median"] / 1e9)
    assert r["peak_rss_mib"] > 0 and r["last_loss"] >= 0


@pytest.mark.parametrize("model,shape", [("resnet20", "3,16,16"), ("unet", "3,20,28")])
def test_train_runs_classifiers_and_segmentation_in_both_layouts(cli, model, shape):
    for layout, extra in [("channels-last", []), ("contiguous", ["--zero-grad", "zeros"]), ("auto", [])]:
        r = bench(cli, "train", "--model", model, "--batch", "2", "--input", shape, "--steps", "1", "--warmup", "1",
                  "--layout", layout, *extra)
        assert r["task"] == ("segmentation" if model == "unet" else "classification")
        assert r["grad_to_none"] == (not extra)
        assert r["layout"]["requested"] == layout
        if layout == "auto":  # measured (or cached): the faster of the two times wins, ties to contiguous
            faster = r["layout"]["channels_last_s"] < r["layout"]["contiguous_s"] / 1.02
            assert r["channels_last"] == faster
        else:
            assert r["channels_last"] == (layout == "channels-last") and "contiguous_s" not in r["layout"]
        # Random labels: cross-entropy starts near log(classes).
        assert 0 < r["first_loss"] < 10


def test_train_gives_the_threads_to_the_pool_that_does_the_work(cli):
    def train(*args):
        proc = run([cli, "--threads", "2", "bench", "train", *args, "--batch", "2", "--steps", "1", "--warmup", "1",
                    "--json"])
        return json.loads(proc.stdout)["thread_pool"]

    # A conv block: no matrix products, so LibTorch's OpenMP pool gets the threads, untimed.
    assert train("--model", "basic_block", "--input", "64,4,4") == {"pool": "openmp", "threads": 2,
                                                                    "matmul_share": 0.0}
    # An MLP is all matrix products (share exactly 1): each pool is timed (or read from the cache)
    # where OpenBLAS has a pool of its own, and the faster wins, ties going to OpenMP.
    pool = train("--model", "mlp", "--in-channels", "16", "--options", '{"width": 32, "depth": 2}')
    assert pool["threads"] == 2 and pool["matmul_share"] == 1.0
    if "openmp_s" in pool:
        assert pool["openmp_s"] > 0 and pool["blas_s"] > 0
        assert pool["pool"] == ("blas" if pool["blas_s"] < pool["openmp_s"] / 1.02 else "openmp")
    else:  # another BLAS: nothing to split
        assert pool["pool"] == "openmp"


def test_the_cpu_block_cache_changes_no_number(cli):
    # bs8 resnet20 activations (8*16*32*32 floats = 512 KiB) go through the cache.
    args = ["train", "--model", "resnet20", "--batch", "8", "--input", "3,32,32", "--steps", "2", "--warmup", "1"]
    on = bench(cli, *args)
    off = bench(cli, *args, env={**os.environ, "SKIPZOO_CPU_CACHE_MB": "0"})
    assert on["cpu_block_cache_mib"] > 0 and off["cpu_block_cache_mib"] == 0
    assert (on["first_loss"], on["last_loss"]) == (off["first_loss"], off["last_loss"])
    assert "SKIPZOO_CPU_CACHE_MB='lots'" in fails(cli, *args, env={**os.environ, "SKIPZOO_CPU_CACHE_MB": "lots"})


def test_train_rejects_bad_options_clearly(cli):
    assert "--input '3,32'" in fails(cli, "train", "--model", "resnet20", "--input", "3,32", status=2)
    assert "with 3 channels" in fails(cli, "train", "--model", "resnet20", "--input", "1,32,32", status=2)
    assert "unknown model 'resnet21'" in fails(cli, "train", "--model", "resnet21", status=2)
    assert "device 'tpu'" in fails(cli, "train", "--model", "resnet20", "--device", "tpu", status=2)
    # LibTorch's own refusal (BatchNorm on 1x1 maps of one image) names the flags, without a backtrace.
    err = fails(cli, "train", "--model", "unet_resnet18", "--batch", "1", "--input", "3,32,32", "--steps", "1",
                status=2)
    assert "failed for batch 1, input 3,32,32: Expected more than 1 value per channel" in err
    assert "frame #" not in err


def test_python_side_times_the_same_network(cli):
    args = ["--model", "resnet20", "--batch", "2", "--input", "3,16,16", "--steps", "1", "--warmup", "1", "--json"]
    py = json.loads(run([sys.executable, os.path.join(BENCH, "python_bench.py"), "train", "--threads", "1",
                         *args]).stdout)
    cpp = bench(cli, "train", *args[:-1])
    assert py["implementation"] == "pytorch" and py["params"] == cpp["params"] == 269722  # He et al.: 0.27M
    assert py["s_per_step"] > 0 and py["images_per_s"] > 0


def test_peak_measures_every_layout_and_pass(cli):
    r = bench(cli, "peak", "--batch", "1", "--channels", "8", "--size", "6", "--iters", "1", "--warmup", "0")
    assert r["macs"] == 1 * 8 * 6 * 6 * 8 * 9
    cases = {(c["pass"], c["layout"]) for c in r["cases"]}
    assert cases == {(p, l) for p in ("forward", "forward+backward") for l in ("contiguous", "channels_last")}
    assert r["forward_gflops"] == max(c["gflops"] for c in r["cases"] if c["pass"] == "forward")


def test_loader_json(cli, tmp_path):
    run([cli, "data", "make-shapes", "--out", tmp_path / "d", "--count", "4", "--min-size", "40", "--max-size", "64"])
    r = bench(cli, "loader", "--data", tmp_path / "d", "--patch", "16", "--batch", "2", "--workers", "1",
              "--batches", "2", "--warmup", "0")
    assert r["implementation"] == "skipzoo" and r["patches_per_s"] > 0 and r["images"] == 4


def test_chart_draws_a_png_and_names_a_bad_file(cli, tmp_path):
    spec = {"labels": ["a", "b"], "groups": [{"name": "x", "values": [1.2, 0.8]}], "reference": 1.0}
    (tmp_path / "c.json").write_text(json.dumps(spec))
    run([cli, "bench", "chart", "--in", tmp_path / "c.json", "--out", tmp_path / "c.png"])
    head = (tmp_path / "c.png").read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (900, 540)
    spec["groups"][0]["values"][1] = None  # null: no bar there (a workload without a target)
    (tmp_path / "n.json").write_text(json.dumps(spec))
    run([cli, "bench", "chart", "--in", tmp_path / "n.json", "--out", tmp_path / "n.png"])
    assert (tmp_path / "n.png").read_bytes() != (tmp_path / "c.png").read_bytes()
    (tmp_path / "bad.json").write_text(json.dumps({"labels": ["a"], "groups": [{"values": [1]}]}))
    assert "bad.json: not a chart description" in fails(cli, "chart", "--in", tmp_path / "bad.json",
                                                        "--out", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_report_keeps_the_text_around_its_markers():
    sys.path.insert(0, BENCH)
    import bench_report
    doc = "# B\nintro\n\n<!-- results: begin (bench/compare_pytorch.py writes this) -->\nold\n<!-- results: end -->\nafter\n"
    new = bench_report.replace_block(doc, "results", "new table")
    assert new == doc.replace("\nold\n", "\nnew table\n")
    assert bench_report.replace_block("# B\n", "gpu", "g").endswith("<!-- gpu: begin (bench/compare_pytorch.py "
                                                                     "writes this) -->\ng\n<!-- gpu: end -->\n")
