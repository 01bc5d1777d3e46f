"""Data-parallel `skipzoo train` with real ranks on Gloo: 2 ranks x batch 4 train to the weights
of 1 process x batch 8 (a U-Net and a CIFAR ResNet without normalisation, and with BatchNorm under
--sync-bn), through --nproc, torchrun, and two network namespaces standing for two hosts; a
killed rank, a rank that never joins, and the resume of an interrupted 2-rank run.

The reference is always a plain one-process run of the same command; weights are compared from
the exported model.ts (final weights: the last epoch is validated, so best.ckpt is the last step).
"""
import os
import signal
import socket
import subprocess
import time

import cv2
import numpy as np
import pytest
import torch

from conftest import run

TRAIN = ["--batch", "8", "--layout", "contiguous", "--seed", "3", "--workers", "1", "--val-every", "1000"]
UNET = ["--patch", "32", "--options", '{"depth": 2, "base_width": 8, "norm": "none"}']
UNET_BN = ["--patch", "32", "--options", '{"depth": 2, "base_width": 8}']


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    out = tmp_path_factory.mktemp("shapes") / "set"
    run([os.environ["SKIPZOO_CLI"], "data", "make-shapes", "--out", out, "--count", "24", "--min-size", "48",
         "--max-size", "96"])
    return out


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    """Three classes of coloured discs, 8 images each, of different sizes."""
    root = tmp_path_factory.mktemp("colours") / "set"
    rng = np.random.default_rng(0)
    for name, colour in {"red": (30, 30, 220), "green": (30, 220, 30), "blue": (220, 30, 30)}.items():
        (root / name).mkdir(parents=True)
        for i in range(8):
            h, w = rng.integers(24, 48, size=2)
            image = rng.integers(0, 60, size=(h, w, 3), dtype=np.uint8)
            cv2.circle(image, (int(w) // 2, int(h) // 2), int(min(h, w)) // 3, colour, -1)
            cv2.imwrite(str(root / name / f"{i}.png"), image)
    return root


def train(cli, task, data, out, *extra, iters=20, env=None, check=True):
    return run([cli, "--threads", "1", "train", task, "--data", data, "--out", out, *TRAIN, "--iters", str(iters),
                *extra], env=env, check=check)


def weights(run_dir):
    return torch.jit.load(str(run_dir / "model.ts")).state_dict()


def assert_same_weights(a, b, atol=1e-5, running_atol=1e-6):
    """Parameters within atol; BatchNorm's running statistics (values up to ~10) within 1e-5 relative
    or running_atol."""
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key].double(), b[key].double()
        if "running" in key:
            assert torch.allclose(x, y, rtol=1e-5, atol=running_atol), (key, (x - y).abs().max().item())
        else:
            assert (x - y).abs().max().item() <= atol, (key, (x - y).abs().max().item())


def test_unet_on_two_ranks_trains_as_one_process_with_the_global_batch(cli, shapes, tmp_path):
    one = train(cli, "seg", shapes, tmp_path / "one", *UNET)
    two = train(cli, "seg", shapes, tmp_path / "two", *UNET, "--nproc", "2")
    assert "data-parallel: 2 ranks, a global batch of 8 (4 per rank)" in two.stdout
    assert_same_weights(weights(tmp_path / "one"), weights(tmp_path / "two"))
    # Sharded validation sums the ranks' confusion matrices: the same metrics as one process.
    last = [line for line in one.stdout.splitlines() if "val mIoU" in line][-1].split("val mIoU")[1].split()[0]
    assert f"val mIoU {last}" in two.stdout
    # Rank 0 alone wrote the run directory; rank 1 printed nothing.
    assert two.stdout.count("done: 20 steps") == 1


def test_cifar_resnet_on_two_ranks_trains_as_one_process(cli, colours, tmp_path):
    # Without normalisation a ResNet needs a smaller step than the default to stay finite.
    net = ["--model", "resnet20", "--patch", "24", "--options", '{"norm": "none"}', "--lr", "1e-4"]
    train(cli, "cls", colours, tmp_path / "one", *net)
    train(cli, "cls", colours, tmp_path / "two", *net, "--nproc", "2")
    assert_same_weights(weights(tmp_path / "one"), weights(tmp_path / "two"))


def test_sync_bn_on_two_ranks_trains_as_one_process_with_batchnorm(cli, shapes, tmp_path):
    train(cli, "seg", shapes, tmp_path / "one", *UNET_BN)
    two = train(cli, "seg", shapes, tmp_path / "two", *UNET_BN, "--nproc", "2", "--sync-bn")
    assert "sync-bn: 10 BatchNorm layers" in two.stdout
    # The ranks' ManualBatchNorm and one process's fused BatchNorm + ReLU round differently: their
    # running statistics part by ~1e-6 after 20 steps.
    assert_same_weights(weights(tmp_path / "one"), weights(tmp_path / "two"), running_atol=1e-5)
    # Without --sync-bn each rank normalises by its own 4 patches: not the one-process model.
    train(cli, "seg", shapes, tmp_path / "local", *UNET_BN, "--nproc", "2")
    with pytest.raises(AssertionError):
        assert_same_weights(weights(tmp_path / "one"), weights(tmp_path / "local"))


def test_the_measured_layout_and_sync_bn_with_an_empty_layout_cache(cli, shapes, tmp_path):
    """Rank 0 times training passes alone (its loss and BatchNorm make no collectives meanwhile)."""
    env = dict(os.environ, SKIPZOO_CACHE_DIR=str(tmp_path / "cache"))
    flags = [f for f in TRAIN if f not in ("--layout", "contiguous")]
    proc = run([cli, "--threads", "1", "train", "seg", "--data", shapes, "--out", tmp_path / "run", *flags,
                "--iters", "4", *UNET_BN, "--layout", "auto", "--nproc", "2", "--sync-bn", "--dist-timeout", "60"],
               env=env)
    assert "layout: " in proc.stdout and "measured" in proc.stdout.split("layout: ")[1].splitlines()[0]


def test_torchrun_launches_the_ranks(cli, shapes, tmp_path):
    train(cli, "seg", shapes, tmp_path / "one", *UNET)
    # Debian's torchrun 1.13 needs --redirects/--tee; --no_python runs the binary itself.
    run(["torchrun", "--nproc_per_node", "2", "--master_port", str(free_port()), "--redirects", "1", "--tee", "1",
         "--no_python", cli, "--threads", "1", "train", "seg", "--data", shapes, "--out", tmp_path / "two", *TRAIN,
         "--iters", "20", *UNET])
    assert_same_weights(weights(tmp_path / "one"), weights(tmp_path / "two"))


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def test_a_killed_rank_stops_the_others_with_a_message_naming_it(cli, shapes, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([cli, "train", "seg", "--data", shapes, "--out", out, *UNET, "--batch", "8",
                             "--iters", "1000000", "--layout", "contiguous", "--workers", "1", "--checkpoint-every",
                             "0", "--nproc", "2", "--threads", "1", "--dist-timeout", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (out / "last.ckpt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    ranks = children(proc.pid)
    assert len(ranks) == 2 and (out / "last.ckpt").exists()
    time.sleep(0.5)
    os.kill(ranks[1], signal.SIGKILL)
    killed = time.time()
    _, stderr = proc.communicate(timeout=60)
    assert time.time() - killed < 30  # within --dist-timeout: here at once, the socket closes
    assert proc.returncode == 1
    assert f"rank 1 (pid {ranks[1]}) was killed by signal 9" in stderr
    assert f"skipzoo: error: rank 0 of 2: rank 1 (pid {ranks[1]}) has exited, so this rank stops" in stderr
    assert "Traceback" not in stderr and "Exception raised from" not in stderr
    # The last checkpoint is intact: it exports.
    run([cli, "export", "--checkpoint", out / "last.ckpt", "--out", tmp_path / "m.ts"])


def test_a_rank_that_never_joins_is_named(cli, shapes, tmp_path):
    env = dict(os.environ, RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    started = time.time()
    proc = train(cli, "seg", shapes, tmp_path / "run", *UNET, "--dist-timeout", "3", env=env, check=False)
    assert proc.returncode == 1
    assert "rank 0 of 2 could not join the run: rank(s) 1 of 2 did not join within 3 s" in proc.stderr
    assert time.time() - started < 30


def test_usage_errors_are_reported_once_before_any_rank_starts(cli, shapes, tmp_path):
    proc = run([cli, "train", "seg", "--data", shapes, "--out", tmp_path / "a", "--batch", "7", "--nproc", "2"],
               check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("--batch 7 is the global batch: it must be a multiple of the 2 ranks") == 1
    proc = run([cli, "train", "seg", "--data", shapes, "--out", tmp_path / "b", "--backend", "nccl"], check=False)
    assert proc.returncode == 2 and "--backend nccl: this build has Gloo only" in proc.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_resume_of_an_interrupted_two_rank_run_continues_exactly(cli, shapes, tmp_path):
    train(cli, "seg", shapes, tmp_path / "whole", *UNET, "--nproc", "2", iters=40)
    out = tmp_path / "cut"
    proc = subprocess.Popen([cli, "--threads", "1", "train", "seg", "--data", shapes, "--out", out, *TRAIN, *UNET,
                             "--iters", "40", "--nproc", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:  # one line per epoch when stdout is a pipe
        if line.startswith("epoch 3/"):
            proc.send_signal(signal.SIGINT)
            break
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted: state saved" in stdout
    subprocess.run(["cp", "-r", out, tmp_path / "cut_one"], check=True)
    run([cli, "--threads", "1", "train", "seg", "--resume", out, "--nproc", "2"])
    assert_same_weights(weights(tmp_path / "whole"), weights(out), atol=1e-7)
    # The sample order does not depend on the world size: one process resumes it too.
    run([cli, "--threads", "1", "train", "seg", "--resume", tmp_path / "cut_one"])
    assert_same_weights(weights(tmp_path / "whole"), weights(tmp_path / "cut_one"))


def namespaces_work():
    if os.geteuid() != 0:
        return False
    probe = subprocess.run(["ip", "netns", "add", "skipzoo_probe"], capture_output=True)
    subprocess.run(["ip", "netns", "del", "skipzoo_probe"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not namespaces_work(), reason="needs root and network namespaces (the CI has both)")
def test_two_hosts_in_network_namespaces_joined_by_a_veth_pair(cli, shapes, tmp_path):
    hosts = {"skipzoo_host0": "10.231.7.1", "skipzoo_host1": "10.231.7.2"}
    sh = lambda *args: subprocess.run(["ip", *args], check=True, capture_output=True)
    try:
        for ns in hosts:
            sh("netns", "add", ns)
        sh("link", "add", "szveth0", "netns", "skipzoo_host0", "type", "veth", "peer", "name", "szveth1", "netns",
           "skipzoo_host1")
        for i, (ns, addr) in enumerate(hosts.items()):
            sh("-n", ns, "addr", "add", f"{addr}/24", "dev", f"szveth{i}")
            sh("-n", ns, "link", "set", f"szveth{i}", "up")
            sh("-n", ns, "link", "set", "lo", "up")
        train(cli, "seg", shapes, tmp_path / "one", *UNET)
        ranks = []
        for rank, ns in enumerate(hosts):
            env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR=hosts["skipzoo_host0"],
                       MASTER_PORT="29531")
            ranks.append(subprocess.Popen(["ip", "netns", "exec", ns, cli, "--threads", "1", "train", "seg", "--data",
                                           shapes, "--out", tmp_path / "two", *TRAIN, "--iters", "20", *UNET,
                                           "--dist-timeout", "60"],
                                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        results = [p.communicate(timeout=300) for p in ranks]
        for p, (stdout, stderr) in zip(ranks, results):
            assert p.returncode == 0, stdout + stderr
        assert_same_weights(weights(tmp_path / "one"), weights(tmp_path / "two"))
    finally:
        for ns in hosts:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
