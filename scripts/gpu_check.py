"""Run every CUDA path of sigver once and print one table (the GPU table of BENCHMARKS.md).

    bash scripts/gpu_check.sh                      # on a GPU machine: under 8 minutes on one modern GPU
    SIGVER_GPU_CHECK_DEVICE=cpu SIGVER_GPU_CHECK_TINY=1 bash scripts/gpu_check.sh   # the plumbing, on a CPU

Steps, each a command of its own (a subprocess, so a crash or a CUDA error fails that row only):

1. ``scripts/bench_train.py --device cuda --model signet``: training and feature-extraction images/s against
   the original-style loop, fp32, then bf16 autocast + channels-last; the peak GPU memory of each;
2. the compute bound: SigNet's forward FLOPs per 150 x 220 image counted with ``torch.utils.flop_counter``
   (about 1.2 GFLOP; training about 3x), against the measured matmul peak of the GPU in the same precision;
   the ratio is the fraction of that peak reached;
3. ``torchrun --nproc_per_node 1 -m sigver.featurelearning.train`` (DistributedDataParallel, NCCL) for one
   epoch on synthetic writers (its checkpoint feeds the next steps);
4. ``wd.test --device cuda`` (feature extraction on the GPU, per-user SVMs on the CPU);
5. one epoch of ``adversarial.train_madry`` and of ``metalearning.train`` on the GPU;
6. ``distillation.invert`` for a few iterations.

Exits 1 when any step fails (its output is printed), 0 otherwise. ``SIGVER_GPU_CHECK_DEVICE`` (default cuda)
and ``SIGVER_GPU_CHECK_TINY=1`` (signet_thin, a few images: the CPU test of this script) change the scale;
``SIGVER_GPU_CHECK_OUT`` keeps the work folder (default: a temporary one).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIGNET_NOMINAL_GFLOP = 1.2  # forward, one 150 x 220 image (the figure; the count below is printed too)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def _run(cmd, timeout):
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)
        ok, out = proc.returncode == 0, proc.stdout + proc.stderr
        if not ok:
            out += f"\n(exit status {proc.returncode})"
    except subprocess.TimeoutExpired as e:
        ok, out = False, f"timed out after {timeout} s\n{e.stdout or ''}{e.stderr or ''}"
    return ok, out, time.perf_counter() - t0


def _last_log(run: Path) -> str:
    """The last epoch of a run folder's log.jsonl, in a few words."""
    rec = json.loads((run / "log.jsonl").read_text().splitlines()[-1])
    keys = [k for k in ("train_loss", "val_loss", "val_acc") if isinstance(rec.get(k), (int, float))]
    return ", ".join(f"{k} {rec[k]:.3f}" for k in keys)


def forward_flops(model_name: str, device: str) -> float:
    """FLOPs of one forward pass of ``model_name`` on a 1 x 1 x 150 x 220 image (multiply-add = 2)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from sigver.featurelearning.models import create_model

    model = create_model(model_name).to(device).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, 150, 220, device=device))
    return float(counter.get_total_flops())


def matmul_peak(device: str, dtype_name: str, n: int) -> float:
    """Measured FLOP/s of an n x n matmul in ``dtype_name`` (float32 without TF32, or bfloat16)."""
    import torch

    dtype = getattr(torch, dtype_name)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    reps = 20 if device.startswith("cuda") else 3
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync()
    return 2 * n ** 3 * reps / (time.perf_counter() - t0)


def main() -> int:
    device = os.environ.get("SIGVER_GPU_CHECK_DEVICE", "cuda")
    tiny = os.environ.get("SIGVER_GPU_CHECK_TINY", "") not in ("", "0")
    py = sys.executable
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("error: no CUDA device (set SIGVER_GPU_CHECK_DEVICE=cpu SIGVER_GPU_CHECK_TINY=1 for the "
                  "plumbing only)", file=sys.stderr)
            return 2
    model = "signet_thin" if tiny else "signet"
    meta_model = "smallcnn" if tiny else "signet"
    users, genuine, forgeries = (8, 6, 2) if tiny else (40, 12, 4)
    half = users // 2
    bench = (["--images", "40", "--batch-size", "8", "--eval-batch-size", "8", "--repeats", "1"] if tiny else
             ["--images", "4096", "--batch-size", "128", "--eval-batch-size", "256", "--repeats", "2"])
    batch = "8" if tiny else "64"
    limit = 300 if tiny else 240

    work = Path(os.environ.get("SIGVER_GPU_CHECK_OUT") or tempfile.mkdtemp(prefix="sigver_gpu_check_"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "synthetic.npz"
    ck = work / "ddp" / "model_last.pth"
    rows, failures = [], []

    def step(name, cmd, figure=None, timeout=limit):
        ok, out, seconds = _run([str(c) for c in cmd], timeout)
        value = ""
        if ok and figure is not None:
            try:
                value = figure()
            except Exception as e:  # a step that ran but wrote nothing readable is a failure too
                ok, out = False, out + f"\nno result: {type(e).__name__}: {e}"
        rows.append((name, "ok" if ok else "FAILED", seconds, value))
        if not ok:
            failures.append(name)
            print(f"---- {name} failed ----\n{out[-4000:]}", file=sys.stderr)
        print(f"[gpu_check] {name}: {'ok' if ok else 'FAILED'} ({seconds:.1f} s)", file=sys.stderr, flush=True)
        return ok

    # 1-2: throughput, memory, and the compute bound
    flops = {}
    try:
        flops["forward"] = forward_flops(model, device)
        n = 512 if tiny else 8192
        flops["float32"] = matmul_peak(device, "float32", n)
        flops["bfloat16"] = matmul_peak(device, "bfloat16", n)
    except Exception as e:
        failures.append("compute bound")
        print(f"---- compute bound failed: {type(e).__name__}: {e}", file=sys.stderr)
    for tag, extra in (("fp32", []), ("bf16+cl", ["--amp", "--channels-last"])):
        out = work / f"bench_{tag}.json"

        def figure(out=out, tag=tag):
            r = json.loads(out.read_text())
            peak = flops.get("bfloat16" if tag != "fp32" else "float32")
            fwd = flops.get("forward")
            mem = r["peak_memory_bytes"]
            text = (f"train {r['train']['ours']:.0f} img/s ({r['train']['ours'] / r['train']['baseline']:.2f}x), "
                    f"features {r['inference']['ours']:.0f} img/s")
            if peak and fwd:
                text += (f"; of the {peak / 1e12:.1f} TFLOP/s matmul peak: train "
                         f"{100 * 3 * fwd * r['train']['ours'] / peak:.1f}%, features "
                         f"{100 * fwd * r['inference']['ours'] / peak:.1f}%")
            if mem is not None:
                text += f"; peak memory {mem / 2 ** 30:.2f} GiB"
            return text

        step(f"bench_train {model} {tag}", [py, "scripts/bench_train.py", "--device", device, "--model", model,
                                            *bench, *extra, "--json", out], figure)

    # 3: data, then DDP training through torchrun (its checkpoint is the model of the next steps)
    step("synthetic dataset", [py, "-m", "sigver.datasets.synthetic", "--users", users, "--genuine", genuine,
                               "--forgeries", forgeries, "--npz", data, "--no-progress"],
         lambda: f"{users} writers x {genuine + forgeries} images")
    step("torchrun DDP, 1 epoch", [py, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
                                   "-m", "sigver.featurelearning.train", "--model", model, "--dataset-path", data,
                                   "--users", 0, users, "--epochs", 1, "--batch-size", batch, "--device", device,
                                   "--logdir", work / "ddp", "--no-progress", "--overwrite"],
         lambda: _last_log(work / "ddp"))
    # 4: wd.test with the extraction on the device
    step("wd.test --device", [py, "-m", "sigver.wd.test", "--model-path", ck, "--data-path", data, "--exp-users", 0,
                              half, "--dev-users", half, users, "--gen-for-train", 3, "--gen-for-test", 3,
                              "--forg-from-dev", 3, "--folds", 1, "--device", device, "--no-progress",
                              "--save-path", work / "wd.json"],
         lambda: f"EER {100 * json.loads((work / 'wd.json').read_text())['summary']['EER']['mean']:.1f}%")
    # 5: one epoch of Madry adversarial training and of meta-learning
    step("train_madry, 1 epoch", [py, "-m", "sigver.adversarial.train_madry", "--model", model, "--dataset-path",
                                  data, "--users", 0, users, "--epochs", 1, "--batch-size", batch, "--attack-steps",
                                  2, "--device", device, "--logdir", work / "madry", "--no-progress"],
         lambda: _last_log(work / "madry"))
    step("meta-learning, 1 epoch", [py, "-m", "sigver.metalearning.train", "--model", meta_model, "--dataset-path",
                                    data, "--dev-users", 0, half, "--exp-users", half, users, "--epochs", 1,
                                    "--num-updates", 1, "--num-gen", 3, "--num-rf", 1, "--num-gen-test", 2,
                                    "--num-rf-test", 1, "--num-sk-test", 1, "--meta-batch-size", 4, "--folds", 1,
                                    "--device", device, "--logdir", work / "meta", "--no-progress"],
         lambda: _last_log(work / "meta") if (work / "meta" / "log.jsonl").is_file() else "")
    # 6: data inversion from the DDP checkpoint
    step("inversion, 5 iterations", [py, "-m", "sigver.distillation.invert", "--t-model", model, "--t-checkpoint",
                                     ck, "--classes", 0, 2, "--per-class", 2, "--batch-size", 4, "--iterations", 5,
                                     "--device", device, "--save-path", work / "inverted.npz", "--no-progress"])

    import torch

    gpu = torch.cuda.get_device_name(device) if device.startswith("cuda") else "no GPU"
    print(f"\nsigver GPU check: device {device} ({gpu}), torch {torch.__version__}, "
          f"{'tiny (plumbing) mode' if tiny else 'full mode'}; work folder {work}")
    if "forward" in flops:
        print(f"{model} forward: {flops['forward'] / 1e9:.2f} GFLOP per 150x220 image counted "
              f"(nominal SigNet {SIGNET_NOMINAL_GFLOP}); matmul peak measured: fp32 "
              f"{flops['float32'] / 1e12:.1f} TFLOP/s, bf16 {flops['bfloat16'] / 1e12:.1f} TFLOP/s")
    print(f"| {'step':<28} | {'status':<6} | {'seconds':>7} | result")
    print(f"|{'-' * 30}|{'-' * 8}|{'-' * 9}|{'-' * 40}")
    for name, status, seconds, value in rows:
        print(f"| {name:<28} | {status:<6} | {seconds:7.1f} | {value}")
    if failures:
        print(f"{len(failures)} step(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
