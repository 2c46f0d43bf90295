"""The store of enrolled users: ids, atomic publication, leftovers, tamper evidence, concurrency."""
import threading

import numpy as np
import pytest

from sigver.serve.store import StoreError, UserExistsError, UserIdError, UserNotFoundError, UserStore, check_user_id
from sigver.verify import EnrolledUser, UserFileError


def make_user(name="u", threshold=0.0, d=4, seed=0):
    rng = np.random.RandomState(seed)
    meta = {"format": "sigver-user", "format_version": 2, "name": name, "threshold": threshold,
            "threshold_info": {"method": "svm_margin"}, "model": {"sha256": "a" * 64, "architecture": "x",
                                                                 "input_size": [150, 220], "feature_size": d},
            "preprocessing": {"canvas": [952, 1360], "img_size": [170, 242], "input_size": [150, 220]},
            "svm": {"kernel": "rbf", "gamma": 0.1, "C": 1.0},
            "enrollment": {"n_references": 2, "created": "2025-01-01T00:00:00Z"}}
    return EnrolledUser(meta, rng.randn(3, d), rng.randn(1, 3), [0.5], np.ones(d))


@pytest.mark.parametrize("good", ["alice", "A", "client-0042", "a.b_c-d", "0" * 64])
def test_good_ids(good):
    assert check_user_id(good) == good


@pytest.mark.parametrize("bad", ["", "../x", "..", ".", "/abs", "a/b", "a\\b", "ålice", "a b", "-a", "_a", ".a",
                                 "a" * 65, "a\x00", "a\n", None, 3])
def test_bad_ids(bad):
    with pytest.raises(UserIdError, match="ASCII letters"):
        check_user_id(bad)


def test_put_get_list_delete_and_reopen(tmp_path):
    store = UserStore(tmp_path / "s")
    info = store.put("alice", make_user("Alice"), [("r1.png", b"\x89PNG1")])
    assert info["id"] == "alice" and info["name"] == "Alice" and info["n_references"] == 2
    assert store.get("alice").name == "Alice" and store.get("alice") is store.get("alice")  # cached
    assert store.info("alice", references=True)["references"] == [{"name": "r1.png", "png": b"\x89PNG1"}]
    with pytest.raises(UserExistsError):
        store.put("alice", make_user("Other"), [])
    store.put("alice", make_user("Alice 2", threshold=1.5), [], replace=True)
    assert store.get("alice").threshold == 1.5 and len(list((tmp_path / "s" / "users").iterdir())) == 1
    store.put("bob", make_user("Bob"), [])
    assert [u["id"] for u in store.list()] == ["alice", "bob"]
    store.close()
    again = UserStore(tmp_path / "s")  # a restarted server finds its users
    assert [u["id"] for u in again.list()] == ["alice", "bob"] and again.get("alice").threshold == 1.5
    again.delete("alice")
    with pytest.raises(UserNotFoundError, match="'alice' is not enrolled"):
        again.get("alice")
    with pytest.raises(UserNotFoundError):
        again.delete("alice")
    assert len(list((tmp_path / "s" / "users").iterdir())) == 1


def test_file_names_never_come_from_ids(tmp_path):
    store = UserStore(tmp_path / "s")
    store.put("x..y", make_user(), [])
    (path,) = (tmp_path / "s" / "users").iterdir()
    assert len(path.stem) == 32 and all(c in "0123456789abcdef" for c in path.stem)


def test_refuses_foreign_folders_and_cleans_leftovers(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.tex").write_text("x")
    with pytest.raises(StoreError, match="not a sigver store"):
        UserStore(tmp_path / "docs")
    (tmp_path / "f").write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        UserStore(tmp_path / "f")
    with pytest.raises(StoreError, match="does not exist"):
        UserStore(tmp_path / "no" / "store")
    store = UserStore(tmp_path / "s")
    store.put("alice", make_user(), [])
    store.close()
    # a server killed between writing a user file and committing its row, or while reading uploads
    (tmp_path / "s" / "users" / ("f" * 32 + ".npz")).write_bytes(b"half")
    (tmp_path / "s" / "uploads" / "abc").mkdir()
    store = UserStore(tmp_path / "s")
    assert len(list((tmp_path / "s" / "users").iterdir())) == 1 and not any((tmp_path / "s" / "uploads").iterdir())
    assert store.get("alice").name == "u"


def test_tampered_file_and_hmac_key(tmp_path):
    store = UserStore(tmp_path / "s", key=b"secret")
    store.put("alice", make_user(), [])
    (path,) = (tmp_path / "s" / "users").iterdir()
    with pytest.raises(UserFileError, match="HMAC"):
        UserStore(tmp_path / "s", key=b"other").get("alice")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["intercept"] = np.array([1e6])  # accept everything
    np.savez(path, **arrays)
    with pytest.raises(UserFileError, match="user 'alice': the content does not match its SHA-256") as e:
        UserStore(tmp_path / "s", key=b"secret").get("alice")
    assert str(path) not in str(e.value)


def test_a_reader_never_sees_half_a_user(tmp_path):
    """Replacing a user again and again while others read it: every read is one of the published users."""
    store = UserStore(tmp_path / "s")
    store.put("alice", make_user(threshold=0.0), [])
    stop, seen, errors = threading.Event(), set(), []

    def reader():
        while not stop.is_set():
            try:
                u = store.get("alice")
                seen.add(u.threshold)
                assert u.support_vectors.shape == (3, 4)
            except Exception as e:  # pragma: no cover - the failure being tested
                errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(1, 30):
        store.put("alice", make_user(threshold=float(i), seed=i), [], replace=True)
    stop.set()
    for t in threads:
        t.join()
    assert not errors and seen <= {float(i) for i in range(30)}
    assert len(list((tmp_path / "s" / "users").iterdir())) == 1
