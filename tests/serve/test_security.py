"""The token file and the loopback rule."""
import pytest

from sigver.errors import SigverError
from sigver.serve.security import check_host, is_loopback, read_token


def test_read_token(tmp_path):
    assert read_token(None) is None
    (tmp_path / "t").write_text("  abcdefghijklmnop1234\n")
    assert read_token(tmp_path / "t") == "abcdefghijklmnop1234"
    for text, fragment in (("", "empty"), ("short", "at least 16"), ("has a space in it here", "without spaces"),
                           ("tökenwithunicode-123", "ASCII")):
        (tmp_path / "t").write_text(text, encoding="utf-8")
        with pytest.raises(SigverError, match=fragment):
            read_token(tmp_path / "t")
    with pytest.raises(SigverError, match="cannot read it"):
        read_token(tmp_path / "missing")


@pytest.mark.parametrize("host, loop", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
                                        ("localhost", True), ("0.0.0.0", False), ("::", False),
                                        ("192.168.1.5", False), ("example.org", False)])
def test_loopback_only_without_a_token(host, loop):
    assert is_loopback(host) == loop
    check_host(host, "a-token-of-16-chars")
    if loop:
        check_host(host, None)
    else:
        with pytest.raises(SigverError, match="loopback only"):
            check_host(host, None)
