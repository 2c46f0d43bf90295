# Sourced by the other scripts: make or reuse a virtual environment and install sigver into it.
#
#   SIGVER_VENV   where the environment lives (default: .venv in the repository)
#   PYTHON        the interpreter used to create it (default: python3), must be >= 3.10
#
# torch: when the environment has none, the pinned CPU build torch==2.13.0 is installed first, so that
# installing sigver (which accepts torch>=2.1) does not pull a multi-GB CUDA build from the registry.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SIGVER_VENV:-$REPO/.venv}"
PY="${PYTHON:-python3}"
TORCH_PIN="${SIGVER_TORCH:-torch==2.13.0}"

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "error: sigver needs Python >= 3.10; set PYTHON=/path/to/python3.x" >&2
    exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating virtual environment $VENV"
    "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! "$VPY" -c 'import torch' >/dev/null 2>&1; then
    echo "[setup] installing $TORCH_PIN"
    "$VPY" -m pip install -q "$TORCH_PIN"
fi
# (re)install the package when setup.py changed since the last install
EXTRAS="${SIGVER_EXTRAS:-test}"
STAMP="$VENV/.sigver-installed"
WANT="$(cat "$REPO/setup.py" | cksum) $EXTRAS"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ] || ! "$VPY" -c 'import sigver' >/dev/null 2>&1; then
    echo "[setup] installing sigver[$EXTRAS] (editable)"
    "$VPY" -m pip install -q -e "$REPO[$EXTRAS]"
    echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
cd "$REPO"

# Optional: numba, the compiled kernels of the pre-processing (the `fast` extra; same bytes, several times faster).
# The installed numpy is kept (pinned during the install). A failed install is not fatal: sigver then uses scipy.
# SIGVER_NO_NUMBA=1 skips it (and makes sigver ignore an installed numba).
install_fast_extra() {
    case "${SIGVER_NO_NUMBA:-}" in ""|0) ;; *) return 0 ;; esac
    if ! "$VPY" -c 'import numba' >/dev/null 2>&1; then
        echo "[setup] installing the fast extra (numba)"
        local np_version
        np_version="$("$VPY" -c 'import numpy; print(numpy.__version__)' 2>/dev/null || true)"
        "$VPY" -m pip install -q "numba>=0.59" ${np_version:+"numpy==$np_version"} \
            || echo "[setup] warning: numba not installed; pre-processing uses scipy (same results, slower)" >&2
    fi
}
install_fast_extra

# Optional extras the test suite exercises against the real libraries (Dask, scikit-learn-intelex, TensorBoard,
# ONNX, Jupyter, visdom, the service's FastAPI / uvicorn, Playwright with chromium). visdom only
# builds with setuptools<80 and without build isolation. A failed install is not fatal: those tests skip.
install_test_extras() {
    if ! "$VPY" -c 'import distributed' >/dev/null 2>&1; then
        echo "[setup] installing the dask extra (dask[distributed])"
        "$VPY" -m pip install -q "dask[distributed]>=2023.1" \
            || echo "[setup] warning: dask not installed; the Dask tests will skip" >&2
    fi
    if ! "$VPY" -c 'import sklearnex' >/dev/null 2>&1; then
        echo "[setup] installing the sklearnex extra (scikit-learn-intelex)"
        "$VPY" -m pip install -q scikit-learn-intelex \
            || echo "[setup] warning: scikit-learn-intelex not installed; the --svm-backend sklearnex tests will skip" >&2
    fi
    if ! "$VPY" -c 'import tensorboard' >/dev/null 2>&1; then
        echo "[setup] installing the tensorboard extra"
        "$VPY" -m pip install -q tensorboard || echo "[setup] warning: tensorboard not installed; its tests will skip" >&2
    fi
    if ! "$VPY" -c 'import onnx, onnxruntime' >/dev/null 2>&1; then
        echo "[setup] installing the onnx extra (onnx, onnxruntime)"
        "$VPY" -m pip install -q onnx onnxruntime || echo "[setup] warning: onnx not installed; its tests will skip" >&2
    fi
    if ! "$VPY" -c 'import nbclient, nbformat, ipykernel' >/dev/null 2>&1; then
        echo "[setup] installing the notebook runner (nbclient, nbformat, ipykernel)"
        "$VPY" -m pip install -q nbclient nbformat ipykernel \
            || echo "[setup] warning: nbclient not installed; the notebook test will skip" >&2
    fi
    # the verification service (the serve extra; httpx for FastAPI's test client) and its browser test: Playwright
    # drives Debian's chromium (installed with apt-get where missing and possible; else that test skips)
    if ! "$VPY" -c 'import fastapi, uvicorn, python_multipart, httpx' >/dev/null 2>&1; then
        echo "[setup] installing the serve extra (fastapi, uvicorn, python-multipart) and httpx"
        "$VPY" -m pip install -q -e "$REPO[serve]" httpx \
            || echo "[setup] warning: the serve extra not installed; the service tests will skip" >&2
    fi
    if ! "$VPY" -c 'import playwright' >/dev/null 2>&1; then
        echo "[setup] installing playwright (the web page's browser test)"
        "$VPY" -m pip install -q playwright || echo "[setup] warning: playwright not installed; the browser test will skip" >&2
    fi
    if ! command -v chromium >/dev/null 2>&1 && [ -z "${SIGVER_CHROMIUM:-}" ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "[setup] installing chromium with apt-get (the web page's browser test)"
            { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
                || { apt-get update -q >/dev/null 2>&1 \
                     && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; }; } \
                || echo "[setup] warning: chromium not installed; the browser test will skip" >&2
        else
            echo "[setup] note: no chromium and no root apt-get; the browser test will skip (or set SIGVER_CHROMIUM)" >&2
        fi
    fi
    if ! "$VPY" -c 'import visdom' >/dev/null 2>&1; then
        echo "[setup] installing the visdom extra"
        { "$VPY" -m pip install -q "setuptools<80" && "$VPY" -m pip install -q --no-build-isolation visdom; } \
            || echo "[setup] warning: visdom not installed; its tests will skip" >&2
    fi
}
