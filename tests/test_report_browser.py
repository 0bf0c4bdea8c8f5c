"""The report in a real browser: headless Chromium draws it without fetching anything and
without a console error, and the screenshot is a page, not a blank.

All of Chromium's traffic goes to a loopback proxy started here that records every request
(``--proxy-bypass-list=<-loopback>`` sends even loopback through it). Chromium itself opens a
few connections to its own services at start-up whatever the page (sign-in and the default
search engine: ``CHROMIUM_OWN``); a control page with an image on a remote host and a
console error shows that the proxy and the log catch what a page does.

``python tests/test_report_browser.py docs/report.png`` writes the README's screenshot with
the same command.
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WINDOW = (1200, 3000)
# Hosts Chromium connects to on its own at start-up, with an empty page too (measured with
# Debian's chromium 150 and every flag below; android.clients.google.com seen once, under load);
# never hosts a page names. Every request goes to the loopback proxy, which answers 502.
CHROMIUM_OWN = {"accounts.google.com", "www.google.com", "clients2.google.com", "android.clients.google.com",
                "redirector.gvt1.com",
                "update.googleapis.com", "optimizationguide-pa.googleapis.com", "content-autofill.googleapis.com"}
QUIET = ["--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
         "--disable-extensions", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
         "--disable-breakpad", "--no-first-run", "--no-default-browser-check", "--no-pings", "--disable-preconnect",
         "--safebrowsing-disable-auto-update", "--metrics-recording-only",
         "--disable-features=NetworkTimeServiceQuerying,Translate,OptimizationHints,MediaRouter,"
         "AutofillServerCommunication,CertificateTransparencyComponentUpdater,SafeBrowsing,PreconnectToSearch,"
         "SearchPrefetchServicePrefetching,NetworkPrediction"]


class Proxy(http.server.ThreadingHTTPServer):
    """An HTTP proxy on 127.0.0.1 that answers 502 to everything and records (method, target)."""

    daemon_threads = True

    def __init__(self):
        self.requests: list[tuple[str, str]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def record(self):
                proxy.requests.append((self.command, self.path))
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_HEAD = do_PUT = do_OPTIONS = do_CONNECT = record

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]


def host(target: str) -> str:
    """The host of a proxied request: ``'www.google.com:443'`` (CONNECT) or an absolute URL."""
    return (urlsplit(target).hostname if "//" in target else target.rsplit(":", 1)[0]) or target


def shoot(page: Path, png: Path, port: int, profile: Path) -> str:
    """Run headless Chromium on ``page`` through the proxy on ``port``; its stderr log."""
    command = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", f"--proxy-server=127.0.0.1:{port}",
               "--proxy-bypass-list=<-loopback>", *QUIET, f"--user-data-dir={profile}", "--enable-logging=stderr",
               "--v=0", f"--screenshot={png}", f"--window-size={WINDOW[0]},{WINDOW[1]}", page.resolve().as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stderr


def dump_dom(page: Path, port: int, profile: Path) -> str:
    """The DOM headless Chromium builds from ``page`` (scripts run, layout done), through the proxy."""
    command = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", f"--proxy-server=127.0.0.1:{port}",
               "--proxy-bypass-list=<-loopback>", *QUIET, f"--user-data-dir={profile}",
               f"--window-size={WINDOW[0]},{WINDOW[1]}", "--dump-dom", page.resolve().as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


# Appended to a copy of the report: after the page is parsed, the drawn size of every figure
MEASURE = ('<script>document.body.setAttribute("data-sizes", Array.from(document.querySelectorAll("svg"))'
           '.map(function (e) { var r = e.getBoundingClientRect(); return Math.round(r.width) + "x" + '
           'Math.round(r.height); }).join(" "));</script>')


def console(log: str) -> list[str]:
    return [line for line in log.splitlines() if ":CONSOLE" in line]


def page_requests(requests) -> list[tuple[str, str]]:
    return [(method, target) for method, target in requests if host(target) not in CHROMIUM_OWN]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium); the browser test needs it")
    pytest.importorskip("jinja2")
    pytest.importorskip("matplotlib")
    proxy = Proxy()
    yield proxy, tmp_path_factory.mktemp("browser")
    proxy.shutdown()
    proxy.server_close()


def test_the_harness_sees_what_a_page_fetches_and_logs(browser):
    proxy, folder = browser
    page = folder / "control.html"
    page.write_text('<!DOCTYPE html><p>control</p><img src="http://example.test/x.png">'
                    '<script>console.error("control error")</script>', encoding="utf-8")
    log = shoot(page, folder / "control.png", proxy.port, folder / "profile-control")
    assert ("GET", "http://example.test/x.png") in page_requests(proxy.requests)
    assert any("control error" in line for line in console(log))


def test_the_report_draws_without_a_fetch_or_a_console_error(browser):
    import costmodel
    import matplotlib.image

    proxy, folder = browser
    page = Path(costmodel.write_report(folder / "report.html"))
    proxy.requests.clear()
    png = folder / "report.png"
    log = shoot(page, png, proxy.port, folder / "profile-report")
    assert page_requests(proxy.requests) == []
    assert console(log) == []
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    ink = (pixels[..., :3] < 0.9).any(axis=-1).mean()  # share of pixels that are not (near) white
    assert pixels[..., :3].std() > 0.05 and 0.03 < ink < 0.6, (pixels.std(), ink)


def test_every_figure_of_the_report_is_drawn_with_a_size(browser):
    import re

    import costmodel

    proxy, folder = browser
    html = Path(costmodel.write_report(folder / "sized.html")).read_text(encoding="utf-8")
    probe = folder / "probe.html"
    probe.write_text(html.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = dump_dom(probe, proxy.port, folder / "profile-probe")
    sizes = re.search(r'data-sizes="([^"]*)"', dom).group(1).split()
    assert len(sizes) == html.count("<svg") >= 5  # one per figure (training, serving, sizes, levers, carbon)
    assert all(int(w) > 50 and int(h) > 50 for w, h in (s.split("x") for s in sizes)), sizes


if __name__ == "__main__":  # the README's screenshot: python tests/test_report_browser.py docs/report.png
    import costmodel

    with tempfile.TemporaryDirectory() as tmp:
        proxy = Proxy()
        report = Path(costmodel.write_report(Path(tmp) / "report.html"))
        log = shoot(report, Path(sys.argv[1]).resolve(), proxy.port, Path(tmp) / "profile")
        print("requests:", page_requests(proxy.requests), "console:", console(log))
