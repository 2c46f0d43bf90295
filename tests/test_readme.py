"""The README's Python quick start runs as written (with the tests' small trained model as models/signet.pth)."""
import re
import shutil
from pathlib import Path

from PIL import Image

from sigver.datasets.synthetic import GENUINE, render_signature

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quick_start(tmp_path, monkeypatch, trained_model):
    code = re.search(r"## Quick start in Python\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    (tmp_path / "models").mkdir()
    shutil.copy(trained_model, tmp_path / "models" / "signet.pth")
    scans = {"scan": 1, "alice1": 2, "alice2": 3, "alice3": 4, "alice4": 5, "questioned1": 6}
    for name, index in scans.items():
        Image.fromarray(render_signature(11, 3, GENUINE, index)).save(tmp_path / f"{name}.png")
    Image.fromarray(render_signature(11, 4, GENUINE, 6)).save(tmp_path / "questioned2.png")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README quick start", "exec"), namespace)
    assert namespace["features"].shape == (1, namespace["ckpt"].model.feature_space_size)
    assert (tmp_path / "alice.npz").is_file()
