"""Fixtures of the service tests: synthetic scans as PNG bytes, a service on the shipped model, a client.

The store, batching, security and command tests need no FastAPI; the API, page and load tests skip without the
``serve`` extra (:func:`need_serve_extra`).
"""
import pytest

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: synthetic writer 1 of this seed: its skilled forgery 1 is rejected by the shipped model at the SVM margin
#: (most of this generator's skilled forgeries are accepted by a model trained on real Hindi signatures)
SEED = 7


@pytest.fixture(scope="session")
def scans():
    """PNG bytes: ``refs`` (5 genuine), ``genuine`` (2 other genuine), ``forgery`` (a skilled forgery the shipped
    model rejects), ``other`` (another writer's genuine signature), ``blank`` (paper only)."""
    import numpy as np

    from sigver.datasets import SyntheticSignatures
    from sigver.datasets.synthetic_render import encode_png

    ds = SyntheticSignatures(n_users=2, genuine=7, forgeries=1, seed=SEED)
    genuine = [encode_png(ds.load(i)) for i in ds.list_genuine(1)]
    paper = np.full((400, 600), 235, np.uint8)
    return {"refs": genuine[:5], "genuine": genuine[5:], "forgery": encode_png(ds.load(ds.list_skilled(1)[0])),
            "other": encode_png(ds.load(ds.list_genuine(2)[0])), "blank": encode_png(paper)}


def need_serve_extra(*more):
    """Skip the calling test module unless FastAPI, uvicorn, python-multipart (and ``more``) import."""
    for module in ("fastapi", "uvicorn", "python_multipart", *more):
        pytest.importorskip(module, reason=f"{module} is missing: the service needs the 'serve' extra "
                                           "(pip install -e '.[serve]'); scripts/test.sh installs it")


def files(field, blobs, names=None):
    """``files=`` of a multipart request: each blob under ``field``."""
    names = names or [f"scan{i + 1}.png" for i in range(len(blobs))]
    return [(field, (n, b, "image/png")) for n, b in zip(names, blobs)]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    from sigver.serve import VerificationService

    svc = VerificationService(None, tmp_path_factory.mktemp("serve") / "store", device="cpu", max_wait_ms=5)
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def client(service):
    from fastapi.testclient import TestClient

    from sigver.serve import create_app

    with TestClient(create_app(service, token=TOKEN, max_upload_mb=1)) as c:
        yield c


@pytest.fixture(scope="module")
def alice(client, scans):
    """User 'alice' enrolled from the 5 references (once per module)."""
    r = client.post("/users/alice", files=files("references", scans["refs"]), headers=AUTH)
    assert r.status_code == 201, r.text
    return r.json()
