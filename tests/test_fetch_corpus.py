"""`d2l data fetch text8` against an HTTP server on 127.0.0.1: downloaded, verified, unpacked once;
a damaged, foreign or oversized archive refused with nothing cached."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile

import pytest

from d2l_lab.datasets import corpus as datasets
from d2l_lab.datasets import fetch as fetch_module
from d2l_lab.datasets.fetch import RemoteCorpus

from .conftest import d2l

TEXT8 = (" anarchism originated as a term of abuse" * 500).encode()
"""text8's shape: one line, a leading space, no newline."""


@pytest.fixture
def server(tmp_path):
    """A URL prefix served from tmp_path/www by http.server in a thread, stopped after the test."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(QuietHandler, directory=str(www))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        yield www, f"http://127.0.0.1:{httpd.server_address[1]}/"
        httpd.shutdown()
        thread.join()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test output stays clean
        pass


def serve(server, monkeypatch, members: dict[str, bytes], **changes) -> RemoteCorpus:
    """Serve a zip of `members` as text8.zip and point the registry's text8 row at it (its sha1s
    those of the zip and of TEXT8, unless `changes` says otherwise)."""
    www, url = server
    with zipfile.ZipFile(www / "text8.zip", "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    fields = {"url": url + "text8.zip", "sha1": hashlib.sha1((www / "text8.zip").read_bytes()).hexdigest(),
              "description": "test corpus", "member": "text8", "member_sha1": hashlib.sha1(TEXT8).hexdigest(),
              "max_bytes": len(TEXT8)}
    remote = RemoteCorpus(**{**fields, **changes})
    monkeypatch.setitem(fetch_module.REMOTES, "text8", remote)
    return remote


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_text8_is_fetched_verified_unpacked_and_read_as_a_corpus(server, cache, monkeypatch):
    serve(server, monkeypatch, {"text8": TEXT8})
    result = d2l("data", "fetch", "text8", "--quiet")
    assert result.exit_code == 0, result.stderr
    path = cache / "corpora" / "text8" / "text8"
    assert result.stdout.strip() == str(path) and path.read_bytes() == TEXT8
    assert list(path.parent.iterdir()) == [path]  # no download or temporary left beside it
    lines = list(datasets.corpus_lines(path))
    assert " ".join(lines).split() == TEXT8.decode().split()
    assert max(map(len, lines)) <= datasets.MAX_LINE_CHARS

    def no_network(*args, **kwargs):
        raise AssertionError("a cached corpus must not be downloaded again")

    monkeypatch.setattr(fetch_module.urllib.request, "urlopen", no_network)
    assert d2l("data", "fetch", "text8").stdout.strip() == str(path)


@pytest.mark.parametrize(("members", "changes", "says"), [
    ({"text8": TEXT8}, {"sha1": "0" * 40}, "expected 0000"),  # a damaged download
    ({"text8": TEXT8 + b" more"}, {"max_bytes": len(TEXT8)}, "more than"),  # a bomb, whatever its header says
    ({"text8": TEXT8[:-1] + b"x"}, {}, "'text8' in the 'text8' archive has sha1"),  # the member changed
    ({"text8": TEXT8, "../evil": b"x"}, {}, "not the one file 'text8'"),  # another layout
    ({"README": TEXT8}, {}, "not the one file 'text8'"),
])
def test_a_bad_archive_is_refused_and_nothing_is_cached(server, cache, monkeypatch, members, changes, says):
    serve(server, monkeypatch, members, **changes)
    result = d2l("data", "fetch", "text8", "--quiet")
    assert result.exit_code == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], lines
    assert not cache.exists()  # neither the archive, nor a partial text8, nor the folders made for them


def test_a_truncated_download_is_refused(server, cache, monkeypatch):
    remote = serve(server, monkeypatch, {"text8": TEXT8})
    www, _ = server
    whole = (www / "text8.zip").read_bytes()
    (www / "text8.zip").write_bytes(whole[: len(whole) // 2])
    assert remote.sha1 == hashlib.sha1(whole).hexdigest()
    result = d2l("data", "fetch", "text8", "--quiet")
    assert result.exit_code == 2 and "has sha1" in result.stderr
    assert not cache.exists()


def test_offline_names_the_manual_alternative(cache, monkeypatch, tmp_path):
    monkeypatch.setitem(fetch_module.REMOTES, "text8", RemoteCorpus(
        (tmp_path / "nowhere.zip").as_uri(), "0" * 40, "gone", "text8", "0" * 40, 10))
    result = d2l("data", "fetch", "text8")
    assert result.exit_code == 2 and "--corpus FILE" in result.stderr and not cache.exists()


def test_text8_is_listed_with_its_published_checksums():
    remote = fetch_module.REMOTES["text8"]
    assert remote.url == "http://mattmahoney.net/dc/text8.zip" and remote.max_bytes == 100_000_000
    assert (remote.sha1, remote.member_sha1) == ("6c70299b93b7e1f927b42cd8f6ac1a31547c7a2e",
                                                 "0dc3edebc970dcc96137e7deda4d9995af9d93de")
    assert "text8" in d2l("data", "list").stdout
