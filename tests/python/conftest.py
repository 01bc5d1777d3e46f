"""Shared helpers for the Python cross-checks (run by ctest with Debian's /usr/bin/python3)."""
import os
import subprocess

import pytest
import torch

torch.set_num_threads(1)


def tool(env_name):
    path = os.environ.get(env_name)
    if not path:
        pytest.fail(f"{env_name} is not set: run these tests through ctest")
    return path


def run(args, check=True, **kw):
    """Runs a command; on failure the assertion message carries its output."""
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def randomize_norm_stats(model, seed=0):
    """Non-trivial BatchNorm statistics and affine weights, so eval-mode parity means something."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model


@pytest.fixture
def xcheck():
    return tool("SKIPZOO_XCHECK")


@pytest.fixture
def cli():
    return tool("SKIPZOO_CLI")
