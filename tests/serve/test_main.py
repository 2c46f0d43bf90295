"""``python -m sigver.serve``: its flags, and the one-line refusals before anything starts."""
import pytest

from sigver.serve.__main__ import build_parser, main


def test_flags():
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.token_file, args.max_upload_mb, args.batch_size) == \
           ("127.0.0.1", 8000, None, 20.0, 32)
    assert args.model_path is None  # the shipped model


@pytest.mark.parametrize("argv, fragment", [
    (["--host", "0.0.0.0"], "without --token-file the service listens on loopback only"),
    (["--token-file", "{tmp}/missing"], "--token-file"),
    (["--token-file", "{tmp}/short"], "at least 16"),
    (["--port", "70000"], "--port 70000"),
    (["--batch-wait-ms", "-1"], "--batch-wait-ms"),
])
def test_refusals_are_one_line(tmp_path, capsys, argv, fragment):
    (tmp_path / "short").write_text("abc")
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--store", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and fragment in err, err
    assert not (tmp_path / "store").exists()  # refused before the store is touched
