"""Hostile and broken HTTP responses (issue 21, item 5): the URL cache keeps nothing but whole images.

A loopback server on 127.0.0.1 sends a body shorter than its ``Content-Length``, an HTML page, a
300 MB ``Content-Length``, a body past the size cap, a slow drip, a 404 and a good PNG. Every
failure is one ``ImageError`` line (or, through the CLI, exit 2 and one line) naming the URL, and
the cache folder holds no file afterwards; the good PNG is cached and read again without the
network. A cached file left by an older nstlib that is not an image is removed when loaded.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faults.kit import QUICK
from nstlib.core import images
from nstlib.core.images import ImageError, fetch_url, load_image


def _noise_png() -> bytes:
    buffer = BytesIO()
    Image.fromarray(np.random.default_rng(5).integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


#: A 24×32 noise PNG (about 2.4 kB), the "image" every route sends some or all of.
PNG = _noise_png()
#: The size cap while testing: the PNG fits (and so does the cut one's Content-Length); two PNGs do not.
CAP = len(PNG) + 1000

Send = Callable[[http.server.BaseHTTPRequestHandler], None]


def _headers(handler: http.server.BaseHTTPRequestHandler, code: int, kind: str, length: int | None) -> None:
    handler.send_response(code)
    handler.send_header("Content-Type", kind)
    if length is not None:
        handler.send_header("Content-Length", str(length))
    handler.end_headers()


def _good(handler):
    _headers(handler, 200, "image/png", len(PNG))
    handler.wfile.write(PNG)


def _cut(handler):  # a whole PNG, but 500 bytes fewer than announced, then the connection closes
    _headers(handler, 200, "image/png", len(PNG) + 500)
    handler.wfile.write(PNG)


def _html(handler):
    page = b"<!doctype html><html><body>Please log in to see this image.</body></html>"
    _headers(handler, 200, "text/html; charset=utf-8", len(page))
    handler.wfile.write(page)


def _huge(handler):  # claims 300 MB; sends a little and gives up
    _headers(handler, 200, "image/png", 300_000_000)
    handler.wfile.write(PNG)


def _unsized(handler):  # no Content-Length, more than the cap: read until the connection closes
    _headers(handler, 200, "image/png", None)
    handler.wfile.write(PNG + PNG)


def _drip(handler):  # a byte every 0.2 s: 93 s for the whole PNG
    _headers(handler, 200, "image/png", len(PNG))
    for byte in PNG:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.2)


def _missing(handler):
    _headers(handler, 404, "text/html", 9)
    handler.wfile.write(b"not found")


ROUTES: dict[str, Send] = {"/good.png": _good, "/cut.png": _cut, "/page.png": _html, "/huge.png": _huge,
                           "/unsized.png": _unsized, "/drip.png": _drip, "/nope.png": _missing}


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        try:
            ROUTES[self.path](self)
        except OSError:  # the client hung up, as it should on a hostile response
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # no tracebacks on the captured stderr
        pass


class Site:
    """The loopback server: ``url(name)``, and ``hits``, the paths it was asked for."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.httpd = _Server(("127.0.0.1", 0), type("Handler", (_Handler,), {"hits": self.hits}))
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """The server, the cache in ``tmp_path/cache``, a 1 s download deadline and the size cap ``CAP``."""
    monkeypatch.setenv("NSTLIB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NSTLIB_DOWNLOAD_TIMEOUT", raising=False)
    monkeypatch.setattr(images, "DOWNLOAD_TIMEOUT", 1.0)
    monkeypatch.setattr(images, "MAX_DOWNLOAD_BYTES", CAP)
    server = Site()
    yield server
    server.stop()


def cached_files(tmp_path: Path) -> list[str]:
    """Every file (hidden and temporary ones too) under the cache folder."""
    return sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "cache").rglob("*") if p.is_file())


#: route -> what the one-line error must say besides the URL.
BAD = {
    "cut.png": (f"{len(PNG)} bytes of the {len(PNG) + 500}", "Content-Length"),
    "page.png": ("text/html", "not an image"),
    "huge.png": ("300000000", f"limit of {CAP} bytes"),
    "unsized.png": (f"limit of {CAP} bytes",),
    "drip.png": ("not finished within 1 s", "NSTLIB_DOWNLOAD_TIMEOUT"),
    "nope.png": ("HTTP 404",),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_response_is_one_error_naming_the_url_and_nothing_is_cached(site, tmp_path, name):
    url = site.url(name)
    start = time.monotonic()
    with pytest.raises(ImageError) as err:
        load_image(url)
    elapsed = time.monotonic() - start
    message = str(err.value)
    assert "\n" not in message and url in message
    for needle in BAD[name]:
        assert needle in message, (needle, message)
    assert elapsed < 2.5  # the drip is cut at the 1 s deadline; the rest fail at once
    assert cached_files(tmp_path) == []


@pytest.mark.parametrize("name", ["cut.png", "page.png", "huge.png", "drip.png"])
def test_the_cli_exits_2_with_one_line_naming_the_url_and_caches_nothing(cli, site, pair, tmp_path,
                                                                        monkeypatch, name):
    monkeypatch.setattr(images, "DOWNLOAD_TIMEOUT", 30.0)
    monkeypatch.setenv("NSTLIB_DOWNLOAD_TIMEOUT", "1")  # the variable overrides the constant
    url = site.url(name)
    start = time.monotonic()
    result = cli("--content_path", url, "--style_path", pair[1], "--output_path", "out.png", *QUICK)
    assert time.monotonic() - start < 2.5
    assert result.code == 2
    result.one_line(url, *BAD[name])
    assert not (tmp_path / "out.png").exists()
    assert cached_files(tmp_path) == []


def test_a_good_png_is_cached_once_and_read_again_without_the_network(site, tmp_path):
    url = site.url("good.png")
    first = load_image(url)
    assert first.shape == (1, 3, 24, 32)
    (cached,) = cached_files(tmp_path)
    assert Path(tmp_path / cached).read_bytes() == PNG
    site.stop()
    assert load_image(url).equal(first)
    assert fetch_url(url) == tmp_path / cached
    assert site.hits == ["/good.png"]


@pytest.mark.parametrize("load", [load_image, fetch_url], ids=["load_image", "fetch_url"])
def test_garbage_cached_by_an_older_version_is_removed_and_then_downloaded_again(site, tmp_path, load):
    url = site.url("good.png")
    fetch_url(url)
    (cached,) = cached_files(tmp_path)
    (tmp_path / cached).write_bytes(b"<html>an error page an older nstlib cached</html>")
    with pytest.raises(ImageError) as err:
        load(url)
    message = str(err.value)
    assert "\n" not in message and url in message and "cached copy was removed" in message
    assert cached_files(tmp_path) == []
    load(url)  # the user is not stuck: the next attempt downloads the image again
    assert cached_files(tmp_path) == [cached]
    assert site.hits == ["/good.png", "/good.png"]


@pytest.mark.parametrize("value", ["soon", "0", "-3", "nan"])
def test_a_bad_download_timeout_variable_is_named(site, tmp_path, monkeypatch, value):
    monkeypatch.setenv("NSTLIB_DOWNLOAD_TIMEOUT", value)
    with pytest.raises(ImageError, match="NSTLIB_DOWNLOAD_TIMEOUT") as err:
        load_image(site.url("good.png"))
    assert repr(value) in str(err.value)
    assert site.hits == [] and cached_files(tmp_path) == []
