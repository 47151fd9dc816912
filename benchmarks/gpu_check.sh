#!/usr/bin/env bash
# The GPU check, one command: the device, the Transformer's training speed on CPU and GPU,
# configs/chatbotdata_gpu.yaml fine-tuned and scored on the GPU, and torchrun with NCCL
# (benchmarks/gpu_check.py says what each part does). Under 8 minutes on one H100/H200.
# Writes benchmarks/results/gpu_check.json.
#
#   benchmarks/gpu_check.sh [--chatbotdata PATH] [--device cpu --quick]
#
# It runs with the python that has torch (on a device machine, its own CUDA build); the
# toolkit is installed for it without its dependencies, which the machine must already have,
# or which come as wheels in .whl/ (pip download them where the network is; see
# /work/.library/device/README.md): at least pydantic and its own dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ -d .whl ]; then
  "$python" -m pip install --quiet --no-index --find-links .whl .whl/*.whl
fi
"$python" -m pip install --quiet --no-deps --no-build-isolation -e . >/dev/null 2>&1
# torchrun (deploy/train-distributed.sh) from the same environment as the python
PATH="$(dirname "$(command -v "$python")"):$PATH"
export PATH
exec timeout 480 "$python" benchmarks/gpu_check.py "$@"
