#!/usr/bin/env bash
# The GPU column of docs/benchmarks.md, in one go on a machine with CUDA, PyTorch 2.x, CMake and a C++17
# compiler (no network, no OpenCV/CLI11 needed): builds skipzoo_gpu_bench against the LibTorch inside this
# machine's PyTorch, then runs bench/compare_pytorch.py --device cuda: the training workloads, skipzoo and
# PyTorch alternating, both with bf16 autocast + channels-last.
#
#   bench/gpu/run_gpu_bench.sh OUT_DIR [NLOHMANN_INCLUDE_DIR]
#
# NLOHMANN_INCLUDE_DIR: a folder holding nlohmann/json.hpp (default: build-vendor/include in the checkout,
# else the system's). Environment: PYTHON (default python3), QUICK=1 (fewer steps, one repeat), REPEATS=N
# (alternating repeats; even N lets each side go first equally often),
# SKIPZOO_GPU_BUILD_DIR (default build-gpu in the checkout).
# Writes OUT_DIR/gpu_results.json (give it to compare_pytorch.py --gpu-results) and OUT_DIR/gpu_bench.log.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 OUT_DIR [NLOHMANN_INCLUDE_DIR]" >&2; exit 2; }
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NLOHMANN=${2:-$ROOT/build-vendor/include}
PY=${PYTHON:-python3}
BUILD=${SKIPZOO_GPU_BUILD_DIR:-$ROOT/build-gpu}
exec > >(tee "$OUT/gpu_bench.log") 2>&1

echo "== $(date -u '+%F %T UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi: not found"
"$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "available:", torch.cuda.is_available())'
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
# Only C++ is compiled, no CUDA kernels: name one architecture instead of probing for it.
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
config=(-S "$ROOT/bench/gpu" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX")
if [ -f "$NLOHMANN/nlohmann/json.hpp" ]; then config+=(-DSKIPZOO_NLOHMANN_INCLUDE="$NLOHMANN"); fi
keep_going=()  # report every compile error of a new LibTorch in one go
if command -v ninja >/dev/null; then config+=(-G Ninja); keep_going=(-- -k 0); fi

SECONDS=0
cmake "${config[@]}"
cmake --build "$BUILD" -j "$(nproc)" "${keep_going[@]}"
echo "== built in ${SECONDS} s: $("$BUILD/skipzoo_gpu_bench" --version)"
"$PY" "$ROOT/bench/compare_pytorch.py" --device cuda --cli "$BUILD/skipzoo_gpu_bench" \
  --results-json "$OUT/gpu_results.json" ${QUICK:+--quick} ${REPEATS:+--repeats "$REPEATS"}
echo "== done in ${SECONDS} s; results: $OUT/gpu_results.json"
