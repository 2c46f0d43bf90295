"""The web page in a real browser: Playwright drives Debian's chromium (headless) against a real uvicorn server.

It enrols a user by giving the page five synthetic reference scans, then verifies a genuine signature
(accepted) and a skilled forgery (rejected), and checks what the page shows side by side. Skips, saying why,
when Playwright or a chromium binary is missing (``scripts/test.sh`` installs both where it can). Set
``SIGVER_SCREENSHOT=path.png`` to save the page after the genuine signature (the README's screenshot).
"""
import os
import shutil
import socket
import threading
import time

import pytest

from .conftest import TOKEN, need_serve_extra

need_serve_extra()

pytestmark = pytest.mark.slow  # a browser and a server: about 10-20 s


def chromium() -> str:
    for candidate in (os.environ.get("SIGVER_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and os.path.isfile(candidate):
            return candidate
    pytest.skip("no chromium binary (apt-get install chromium, or set SIGVER_CHROMIUM); scripts/test.sh installs it "
                "where it can")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn
    from sigver.serve import VerificationService, create_app

    service = VerificationService(None, tmp_path_factory.mktemp("page") / "store", device="cpu")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(service, token=TOKEN), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)
    service.close()


def test_enrol_and_verify_on_the_page(server, scans, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install "
                                                                 "playwright); scripts/test.sh installs it")
    exe = chromium()
    refs = []
    for i, blob in enumerate(scans["refs"]):
        refs.append(tmp_path / f"alice{i + 1}.png")
        refs[-1].write_bytes(blob)
    genuine, forged, junk = tmp_path / "questioned.png", tmp_path / "forged.png", tmp_path / "notes.png"
    genuine.write_bytes(scans["genuine"][0])
    forged.write_bytes(scans["forgery"])
    junk.write_bytes(b"not an image")
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
        except Exception as e:  # a broken chromium install
            pytest.skip(f"chromium at {exe} does not start: {str(e).splitlines()[0]}")
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 620})
            page.goto(server)
            expect = sync_api.expect
            expect(page.locator("#model")).to_contain_text("signet_thin")
            page.fill("#token", TOKEN)
            page.dispatch_event("#token", "change")
            page.fill("#enrol-id", "alice")
            page.set_input_files("#ref-files", [str(r) for r in refs])
            expect(page.locator("#ref-thumbs img")).to_have_count(5)
            page.click("#enrol-btn")
            expect(page.locator("#enrol-status")).to_contain_text("enrolled alice: 5 references", timeout=120_000)
            expect(page.locator("#users li")).to_have_count(1)
            expect(page.locator("#refs img")).to_have_count(5)  # the references' network inputs, from the server

            page.set_input_files("#q-file", str(genuine))
            page.click("#verify-btn")
            expect(page.locator("#decision")).to_have_text("ACCEPTED", timeout=60_000)
            assert page.get_attribute("#q-img", "src").startswith("blob:")
            assert page.get_attribute("#q-net", "src").startswith("data:image/png;base64,")
            expect(page.locator("#thr-label")).to_have_text("threshold 0.000")
            assert float(page.inner_text("#score-label").split()[1]) > 0
            if os.environ.get("SIGVER_SCREENSHOT"):
                page.screenshot(path=os.environ["SIGVER_SCREENSHOT"], full_page=True)

            page.set_input_files("#q-file", str(forged))
            page.click("#verify-btn")
            expect(page.locator("#decision")).to_have_text("REJECTED", timeout=60_000)
            assert float(page.inner_text("#score-label").split()[1]) < 0

            page.set_input_files("#q-file", str(junk))
            page.click("#verify-btn")
            expect(page.locator("#verify-status")).to_contain_text("cannot read image notes.png")
        finally:
            browser.close()
