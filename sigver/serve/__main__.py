"""``python -m sigver.serve``: the verification service (HTTP API and web page) on one model.

::

    python -m sigver.serve --store users/ [--model-path model.pth] [--host 127.0.0.1] [--port 8000] \\
        [--token-file token.txt] [--max-upload-mb 20] [--workers 8] [--batch-size 32] [--batch-wait-ms 2]

Without ``--token-file`` the service answers anyone who can reach it, so it listens on loopback only (a
non-loopback ``--host`` is refused). Needs the optional extra ``serve`` (``pip install -e ".[serve]"``).
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from ..cli import add_device_arguments, cli_main, positive_float, positive_int
from ..errors import SigverError
from ..verify.api import SHIPPED_MODEL


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sigver.serve", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="HTTP service and web page: enrol users from reference signatures, "
                                            "verify questioned signatures (docs: README, 'Service').")
    p.add_argument("--model-path", default=None,
                   help=f"checkpoint of the feature extractor (default: $SIGVER_MODEL, else models/{SHIPPED_MODEL})")
    p.add_argument("--store", default="sigver-store",
                   help="folder of the enrolled users (SQLite index + user files); created if missing")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (other than loopback: needs --token-file)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (0: any free port)")
    p.add_argument("--token-file", default=None,
                   help="file holding the bearer token every /users request must send (at least 16 characters)")
    p.add_argument("--key-file", default=None,
                   help="HMAC key of the user files (default: $SIGVER_USER_KEY when set): written into new files, "
                        "required of every file read")
    p.add_argument("--max-upload-mb", type=positive_float, default=20.0, help="largest request body in MB")
    p.add_argument("--max-image-pixels", type=positive_int, default=50_000_000,
                   help="largest scan (width x height) decoded; larger ones are refused as decompression bombs")
    p.add_argument("--workers", type=positive_int, default=8,
                   help="threads reading and pre-processing uploads (verifications in flight)")
    p.add_argument("--batch-size", type=positive_int, default=32,
                   help="most images in one forward pass (1: no batching across requests)")
    p.add_argument("--batch-wait-ms", type=float, default=2.0,
                   help="how long a verification waits for others to share its forward pass")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    add_device_arguments(p, gpu_idx=False)
    return p


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        raise SigverError(f"--port {args.port}: expected 0..65535")
    if not 0 <= args.batch_wait_ms <= 1000:
        raise SigverError(f"--batch-wait-ms {args.batch_wait_ms}: expected 0..1000 milliseconds")
    from .security import check_host, read_token

    token = read_token(args.token_file)
    check_host(args.host, token)
    try:
        import uvicorn
    except ImportError:
        raise SigverError("the service needs FastAPI and uvicorn: pip install -e \".[serve]\"") from None
    import sigver.datasets.images as images

    from ..verify.integrity import read_key
    from .app import create_app
    from .service import VerificationService

    images.MAX_IMAGE_PIXELS = args.max_image_pixels
    service = VerificationService(args.model_path, args.store, device=args.device, key=read_key(args.key_file),
                                  max_batch=args.batch_size, max_wait_ms=args.batch_wait_ms, workers=args.workers)
    app = create_app(service, token=token, max_upload_mb=args.max_upload_mb)
    v = service.version()["model"]
    print(f"sigver.serve: model {service.model_path} (weights sha256 {v['sha256'][:12]}...) on {service.device}, "
          f"store {service.store.root}, {len(service.store.list())} user(s)", file=sys.stderr)
    if token is None:
        print(f"sigver.serve: no --token-file: anyone on this machine can enrol, delete and verify users, so the "
              f"service listens on loopback only ({args.host})", file=sys.stderr)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, workers=1)
    finally:
        service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
