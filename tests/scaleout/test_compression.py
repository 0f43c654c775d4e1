"""Through nginx a new student's browser gets Streamlit's JavaScript gzipped; straight from Streamlit it does not.

The classroom command (`python -m deploy.replicas --replicas 1`) serves /static/ from nginx's
own precompressed copy (gzip_static) and gzips what it proxies. Checked on the bytes: the
decompressed bundle is byte for byte what the replica serves, and a client that does not
accept gzip gets it plain.
"""

from __future__ import annotations

import gzip
import re
import urllib.request

import pytest

from deploy.replicas import classroom
from tests.harness import ARTIFACTS


def get(url: str, gzip_ok: bool) -> tuple[dict[str, str], bytes]:
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip_ok else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return {k.lower(): v for k, v in r.headers.items()}, r.read()


@pytest.fixture(scope="module")
def one():
    with classroom(1, log_dir=ARTIFACTS / "scaleout-gzip") as c:
        yield c


def main_bundle(index_html: bytes) -> str:
    m = re.search(rb'src="\./(static/js/index\.[^"]+\.js)"', index_html)
    assert m, "no main bundle in index.html"
    return m[1].decode()


def test_main_bundle_is_gzipped_through_nginx_only(one):
    _, index = get(one.replica_urls[0] + "/", gzip_ok=False)
    bundle = main_bundle(index)
    direct_headers, direct = get(f"{one.replica_urls[0]}/{bundle}", gzip_ok=True)
    assert "content-encoding" not in direct_headers  # Streamlit leaves compression to a proxy
    headers, body = get(f"{one.url}/{bundle}", gzip_ok=True)
    assert headers.get("content-encoding") == "gzip"
    assert headers["content-type"].startswith("text/javascript")
    assert "immutable" in headers.get("cache-control", "")
    assert gzip.decompress(body) == direct
    assert len(body) < len(direct) / 3
    plain_headers, plain = get(f"{one.url}/{bundle}", gzip_ok=False)
    assert "content-encoding" not in plain_headers and plain == direct


def test_proxied_page_and_css_are_gzipped(one):
    headers, body = get(one.url + "/", gzip_ok=True)
    assert headers.get("content-encoding") == "gzip"
    index = gzip.decompress(body)
    css = re.search(rb'href="\./(static/css/[^"]+\.css)"', index)
    assert css, "no stylesheet in index.html"
    css_headers, _ = get(f"{one.url}/{css[1].decode()}", gzip_ok=True)
    assert css_headers.get("content-encoding") == "gzip"
    assert css_headers["content-type"].startswith("text/css")
