"""The HTTP API in-process (FastAPI's test client): every endpoint, and every error as one line of JSON."""
import base64
import io
import json
import zlib

import numpy as np
import pytest

from sigver.verify import load_user, verify

from .conftest import AUTH, TOKEN, files, need_serve_extra

need_serve_extra("httpx")  # FastAPI's test client


def one_line_error(r, status, *fragments):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and detail
    for f in fragments:
        assert f in detail, detail
    return detail


def png_shape(data: bytes):
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return im.size[1], im.size[0]


def user_file(service, user_id):
    (row,) = service.store._db.execute("SELECT file FROM users WHERE id = ?", (user_id,)).fetchall()
    return service.store.root / "users" / row[0]


# -- endpoints ---------------------------------------------------------------------------------------------
def test_health_version_page_and_schema(client, service):
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["device"] == "cpu" and h["batching"]["max_batch"] == 32
    v = client.get("/version").json()
    sidecar = json.loads(service.model_path.with_suffix(".json").read_text())
    assert v["model"]["sha256"] == sidecar["weights_sha256"] and v["model"]["file_sha256"] == sidecar["file_sha256"]
    assert v["sigver"] and v["model"]["architecture"] == "signet_thin"
    page = client.get("/")
    assert page.status_code == 200 and "<title>sigver" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/app.js").status_code == 200 and client.get("/static/style.css").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"/health", "/version", "/users", "/users/{user_id}", "/users/{user_id}/verify"} <= set(schema["paths"])
    assert set(schema["paths"]["/users/{user_id}"]) == {"get", "post", "delete"}
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_enrol_list_inspect(client, alice, scans):
    assert alice["id"] == "alice" and alice["n_references"] == 5 and alice["threshold"] == 0.0
    assert alice["enrollment"]["references"] == [f"scan{i}.png" for i in range(1, 6)]
    assert alice["enrollment"]["negatives"]["source"].endswith("_negatives.npz")  # a name, not a server path
    assert "/" not in alice["enrollment"]["negatives"]["source"]
    listed = client.get("/users", headers=AUTH).json()["users"]
    assert [u["id"] for u in listed] == ["alice"] and listed[0]["n_references"] == 5
    info = client.get("/users/alice", headers=AUTH).json()
    assert info["threshold_info"] == {"method": "svm_margin"} and "references" not in info
    refs = client.get("/users/alice?references=true", headers=AUTH).json()["references"]
    assert [r["name"] for r in refs] == alice["enrollment"]["references"]
    assert png_shape(base64.b64decode(refs[0]["png"])) == (150, 220)  # the network input


def test_verify_equals_the_python_api(client, service, alice, scans, tmp_path):
    blobs = scans["genuine"] + [scans["forgery"], scans["other"]]
    names = ["g1.png", "g2.png", "forged.png", "other.png"]
    r = client.post("/users/alice/verify?preprocessed=true", files=files("images", blobs, names), headers=AUTH)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["user"] == "alice" and out["threshold"] == 0.0
    for name, blob in zip(names, blobs):
        (tmp_path / name).write_bytes(blob)
    expected = verify(load_user(user_file(service, "alice")), [tmp_path / n for n in names], device="cpu")
    for got, exp, name in zip(out["results"], expected, names):
        assert got["image"] == name
        assert got["accepted"] == exp["accepted"] and got["score"] == pytest.approx(exp["score"], abs=1e-4)
        assert got["decision"] == ("accepted" if got["accepted"] else "rejected")
        assert png_shape(base64.b64decode(got["network_input_png"])) == (150, 220)
    assert [g["accepted"] for g in out["results"]] == [True, True, False, False]
    # without ?preprocessed no image comes back
    r = client.post("/users/alice/verify", files=files("images", scans["genuine"][:1]), headers=AUTH)
    assert "network_input_png" not in r.json()["results"][0]


def test_enrol_again_replace_and_delete(client, scans):
    r = client.post("/users/bob", files=files("references", scans["refs"][:3]), data={"target_far": "0.1",
                                                                                      "name": "Bob B."}, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Bob B." and r.json()["threshold_info"]["method"] == "target_far"
    one_line_error(client.post("/users/bob", files=files("references", scans["refs"][:2]), headers=AUTH), 409,
                   "'bob' is already enrolled", "replace=true")
    r = client.post("/users/bob?replace=true", files=files("references", scans["refs"][:2]), headers=AUTH)
    assert r.status_code == 201 and r.json()["n_references"] == 2
    assert r.json()["threshold_info"]["method"] == "svm_margin"
    assert client.delete("/users/bob", headers=AUTH).json() == {"deleted": "bob"}
    one_line_error(client.get("/users/bob", headers=AUTH), 404, "'bob' is not enrolled")


# -- errors ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, path", [("get", "/users"), ("get", "/users/alice"), ("delete", "/users/alice"),
                                          ("post", "/users/alice"), ("post", "/users/alice/verify")])
def test_token_required_on_every_user_request(client, alice, method, path):
    r = getattr(client, method)(path)
    one_line_error(r, 401, "Authorization: Bearer")
    assert r.headers["www-authenticate"] == "Bearer"
    for wrong in ("Bearer nope", f"Basic {TOKEN}", f"Bearer {TOKEN}x"):
        one_line_error(getattr(client, method)(path, headers={"Authorization": wrong}), 403, "wrong token")
    assert client.get("/users/alice", headers=AUTH).status_code == 200  # nothing was deleted


@pytest.mark.parametrize("blob, name, fragments", [
    (b"not an image at all", "notes.png", ["cannot read image notes.png", "not an image"]),
    (b"", "empty.png", ["cannot read image empty.png", "empty"]),
    ("truncated", "cut.png", ["cannot read image cut.png", "truncated or corrupt"]),
    ("blank", "paper.png", ["paper.png: no signature found"]),
    ("bomb", "bomb.png", ["cannot read image bomb.png", "decompression bomb"]),
])
def test_bad_images_are_400(client, service, alice, scans, blob, name, fragments):
    if blob == "truncated":
        blob = scans["genuine"][0][: len(scans["genuine"][0]) // 2]
    elif blob == "blank":
        blob = scans["blank"]
    elif blob == "bomb":  # a small PNG that claims 30000 x 30000 pixels
        raw = zlib.compress(b"\0" * (30001 * 64), 9)
        import struct

        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        blob = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    for path, field in (("/users/alice/verify", "images"), ("/users/carol", "references")):
        blobs = [blob] if field == "images" else [scans["refs"][0], blob]
        names = [name] if field == "images" else ["ok.png", name]
        detail = one_line_error(client.post(path, files=files(field, blobs, names), headers=AUTH), 400, *fragments)
        assert str(service.store.root) not in detail  # the client's file name, never a server path
    assert not any((service.store.root / "uploads").iterdir())  # uploads are removed
    one_line_error(client.get("/users/carol", headers=AUTH), 404)


def test_duplicate_reference_and_too_few(client, scans):
    one_line_error(client.post("/users/dave", files=files("references", [scans["refs"][0]] * 2, ["a.png", "b.png"]),
                               headers=AUTH), 400, "reference b.png is the same signature as a.png")
    one_line_error(client.post("/users/dave", files=files("references", scans["refs"][:1]), headers=AUTH), 422,
                   "1 file(s) uploaded, at least 2")


@pytest.mark.parametrize("data, fragment", [({"target_far": "2"}, "target_far: Input should be less than or equal "
                                                                  "to 1"),
                                            ({"target_far": "abc"}, "target_far:"),
                                            ({"target_far": "nan"}, "target_far:")])
def test_bad_parameters_are_422(client, scans, data, fragment):
    one_line_error(client.post("/users/erin", files=files("references", scans["refs"][:2]), data=data,
                               headers=AUTH), 422, fragment)


def test_missing_files_wrong_content_type_and_size(client, alice, scans):
    one_line_error(client.post("/users/alice/verify", files=files("scans", scans["genuine"][:1]), headers=AUTH), 422,
                   "images: Field required")
    one_line_error(client.post("/users/alice/verify", data={"x": "1"}, headers=AUTH), 415,
                   "application/x-www-form-urlencoded")
    one_line_error(client.post("/users/alice/verify", json={"images": []}, headers=AUTH), 415,
                   "multipart/form-data", "application/json")
    one_line_error(client.post("/users/alice/verify", content=b"x" * 10,
                               headers={**AUTH, "Content-Type": "text/plain"}),
                   415, "text/plain")
    big = b"\x89PNG" + bytes(2 * 2 ** 20)  # the test app's limit is 1 MB
    one_line_error(client.post("/users/alice/verify", files=files("images", [big]), headers=AUTH), 413,
                   "upload limit of 1 MB")

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield bytes(64 * 1024)

    one_line_error(client.post("/users/alice/verify", content=chunks(),
                               headers={**AUTH, "Content-Type": "multipart/form-data; boundary=x"}), 413,
                   "upload limit")
    many = files("images", [scans["genuine"][0][:10]] * 65)
    one_line_error(client.post("/users/alice/verify", files=many, headers=AUTH), 413, "at most 64 per request")


@pytest.mark.parametrize("user_id", ["../x", "..", "/etc/passwd", "a/b", "ålice", "al ice", ".hidden", "-x",
                                     "a" * 65, "x\u202e", "%00"])
def test_bad_user_ids_are_422_and_touch_nothing(client, service, scans, user_id, tmp_path):
    before = sorted(p.name for p in service.store.root.rglob("*"))
    path = "/users/" + "".join(f"%{b:02X}" for b in user_id.encode())  # no dot-segment normalisation
    for r in (client.get(path, headers=AUTH), client.delete(path, headers=AUTH),
              client.post(path, files=files("references", scans["refs"][:2]), headers=AUTH),
              client.post(path + "/verify", files=files("images", scans["genuine"][:1]), headers=AUTH)):
        one_line_error(r, 422, "user id", "ASCII letters")
    assert sorted(p.name for p in service.store.root.rglob("*")) == before


def test_unknown_users_endpoints_and_methods(client, scans):
    one_line_error(client.delete("/users/nobody", headers=AUTH), 404, "'nobody' is not enrolled")
    one_line_error(client.post("/users/nobody/verify", files=files("images", scans["genuine"][:1]), headers=AUTH),
                   404, "'nobody' is not enrolled", "enrol it first")
    one_line_error(client.get("/nothing"), 404, "no such endpoint: GET /nothing")
    one_line_error(client.put("/health"), 405, "PUT is not allowed on /health")


def test_tampered_user_file_is_500_naming_the_user(client, service, scans):
    r = client.post("/users/frank", files=files("references", scans["refs"][:2]), headers=AUTH)
    assert r.status_code == 201
    path = user_file(service, "frank")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    meta["threshold"] = -100.0  # accept everything
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    detail = one_line_error(client.post("/users/frank/verify", files=files("images", [scans["other"]]),
                                        headers=AUTH), 500, "user 'frank'", "SHA-256")
    assert str(path) not in detail


def test_user_of_another_model_is_409(client, service, alice):
    user = service.store.get("alice")
    from sigver.verify import EnrolledUser

    other = EnrolledUser({**user.meta, "model": {**user.model, "sha256": "0" * 64}}, user.support_vectors,
                         user.dual_coef, user.intercept, user.scale)
    service.store.put("grace", other, [])
    one_line_error(client.post("/users/grace/verify", files=files("images", [b"x"]), headers=AUTH), 409,
                   "other model weights")
