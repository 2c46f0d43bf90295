#!/usr/bin/env bash
# Run every CUDA path once and print the GPU table of BENCHMARKS.md (under 8 minutes on one modern GPU).
# Exits non-zero when any step fails. See scripts/gpu_check.py for the steps and the environment variables
# (SIGVER_GPU_CHECK_DEVICE=cpu SIGVER_GPU_CHECK_TINY=1: the plumbing on a CPU).
#   bash scripts/gpu_check.sh            # uses $PYTHON, else python3 (an environment with sigver's dependencies)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "${PYTHON:-python3}" "$REPO/scripts/gpu_check.py" "$@"
