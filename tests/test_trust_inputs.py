"""Issue 23 ("Trust, round two"), the inputs: a corpus that changes while it is read, one word in two
Unicode forms, what a corpus directory skips, numbers that are not decimal, and `null`."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from d2l_lab.datasets import corpus as datasets
from d2l_lab.embeddings import encoded_corpus
from d2l_lab.errors import UserError
from d2l_lab.experiments.embedding_task import read_corpus

from .conftest import d2l, only_run_dir

TEXT = "".join(f"the cat sat on the mat w{i % 7} and the dog w{i % 5}\n" for i in range(300))
LATE = "late words arrive while the corpus is read\n" * 40


def _one_error_line(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def _cache_files(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []


# -- 1. a corpus that changes while it is read ----------------------------------------------------------

def _append(path: Path, text: str = LATE) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def _after_first(lines, change):
    for number, line in enumerate(lines):
        if number == 0:
            change()
        yield line


def _inject(monkeypatch, when: str, change) -> None:
    """Run `change()` at one moment of reading: within or between the checksum, the counting pass
    and the encoding pass."""
    if when == "during the checksum":
        read, done = datasets._read, []

        def reading(f, path, size):
            if not done:
                done.append(change())
            return read(f, path, size)
        monkeypatch.setattr(datasets, "_read", reading)
    elif when in ("before counting", "during counting"):
        count = encoded_corpus.count_vocab

        def counting(lines, min_count):
            if when == "before counting":
                change()
                return count(lines, min_count)
            return count(_after_first(lines, change), min_count)
        monkeypatch.setattr(encoded_corpus, "count_vocab", counting)
    else:
        encode = encoded_corpus.encode_lines

        def encoding(lines, vocab, ids_out, offsets_out):
            if when == "before encoding":
                change()
                return encode(lines, vocab, ids_out, offsets_out)
            return encode(_after_first(lines, change), vocab, ids_out, offsets_out)
        monkeypatch.setattr(encoded_corpus, "encode_lines", encoding)


MOMENTS = ["during the checksum", "before counting", "during counting", "before encoding", "during encoding"]


@pytest.mark.parametrize("when", MOMENTS)
def test_a_corpus_that_grows_while_it_is_read_is_one_line_and_leaves_no_cache_entry(tmp_path, monkeypatch, when):
    corpus = tmp_path / "growing.txt"
    corpus.write_text(TEXT)
    cache = tmp_path / "cache"
    monkeypatch.setenv("D2L_LAB_CACHE", str(cache))
    _inject(monkeypatch, when, lambda: _append(corpus))
    result = d2l("run", "word2vec", "--corpus", str(corpus), "--min-count", "1", "--epochs", "1", "--dim", "8",
                 "--out", str(tmp_path / "out"))
    line = _one_error_line(result)
    assert f"'{corpus}' changed while being read" in line and "copy" in line, line
    assert not (tmp_path / "out").exists() and _cache_files(cache) == []


@pytest.mark.parametrize("change", ["file added", "file rewritten", "file removed", "file replaced"])
def test_a_corpus_directory_that_changes_between_passes_is_one_line(tmp_path, monkeypatch, change):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):
        (folder / name).write_text(TEXT)

    def act() -> None:
        if change == "file added":
            (folder / "c.txt").write_text(LATE)
        elif change == "file rewritten":  # the same size, other words
            (folder / "b.txt").write_text(TEXT.replace("cat", "cow"))
        elif change == "file removed":
            (folder / "b.txt").unlink()
        else:  # a new file renamed over the old, as editors save
            (folder / "new").write_text(TEXT)
            os.replace(folder / "new", folder / "b.txt")
    cache = tmp_path / "cache"
    _inject(monkeypatch, "before encoding", act)
    with pytest.raises(UserError, match="changed while being read") as caught:
        read_corpus(str(folder), 1, cache_dir=cache)
    assert str(folder) in str(caught.value)
    assert _cache_files(cache) == []


def test_a_corpus_written_to_by_another_process_is_refused(tmp_path):
    """A real writer: a process appending a line every millisecond while the run reads the file."""
    corpus = tmp_path / "log.txt"
    corpus.write_text(TEXT * 20)
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "while True:\n"
        "    with open(sys.argv[1], 'a') as f: f.write('one more line of words\\n')\n"
        "    time.sleep(0.001)\n"), str(corpus)])
    try:
        size = corpus.stat().st_size
        while corpus.stat().st_size == size:
            time.sleep(0.01)
        env = {**os.environ, "D2L_LAB_CACHE": str(tmp_path / "cache")}
        result = subprocess.run([sys.executable, "-m", "d2l_lab", "run", "glove", "--corpus", str(corpus),
                                 "--min-count", "1", "--dry-run", "--out", str(tmp_path / "out")],
                                capture_output=True, text=True, env=env, timeout=300)
    finally:
        writer.kill()
        writer.wait()
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "changed while being read" in lines[0], result.stderr
    assert _cache_files(tmp_path / "cache") == []


# -- 2. one word, one entry ------------------------------------------------------------------------------

CAFE_NFC, CAFE_NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")


def test_one_word_in_two_unicode_forms_is_one_vocabulary_entry(tmp_path):
    assert CAFE_NFC != CAFE_NFD
    corpus = tmp_path / "mixed.txt"
    corpus.write_text(f"the {CAFE_NFC} is open\nthe {CAFE_NFD} is closed\n" * 10, encoding="utf-8")
    read = read_corpus(str(corpus), 1, cache_dir=tmp_path / "cache")
    assert CAFE_NFC in read.vocab.words and CAFE_NFD not in read.vocab.words
    assert read.vocab.counts[read.vocab.index[CAFE_NFC]] == 20
    assert [line.split()[1] for line in datasets.corpus_lines(corpus)] == [CAFE_NFC] * 20
    assert datasets.read_corpus(corpus)[1][1] == CAFE_NFC  # the in-memory reader (bpe learn) too


def test_a_cache_entry_counted_before_normalisation_is_not_reused(tmp_path):
    """An encoding cached by d2l-lab before corpus words were NFC holds both forms; the key must differ."""
    corpus = tmp_path / "mixed.txt"
    corpus.write_text(f"the {CAFE_NFC} is open\nthe {CAFE_NFD} is closed\n" * 10, encoding="utf-8")
    checksum = datasets.corpus_checksum(corpus)
    old_key = hashlib.sha1(f"1|{checksum}|min_count=1".encode()).hexdigest()  # the format of e3aac06
    (tmp_path / "cache" / "corpus").mkdir(parents=True)
    words = ["the", "is", CAFE_NFC, "open", CAFE_NFD, "closed"]
    np.savez(tmp_path / "cache" / "corpus" / f"{old_key}.vocab.npz",
             words=np.frombuffer("\n".join(words).encode(), dtype=np.uint8),
             counts=np.array([20, 20, 10, 10, 10, 10]), total_tokens=np.int64(80))
    assert CAFE_NFD not in read_corpus(str(corpus), 1, cache_dir=tmp_path / "cache").vocab.words


# -- 3. what a corpus directory skips, says so ----------------------------------------------------------

def test_a_corpus_directory_says_in_one_warning_what_it_skipped(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text(TEXT)
    (folder / "sub").mkdir()
    (folder / "sub" / "b.txt").write_text(TEXT)
    (folder / "more").mkdir()
    os.mkfifo(folder / "pipe")
    (folder / "gone.txt").symlink_to(tmp_path / "missing.txt")
    (folder / ".hidden").write_text("not a corpus file\n")
    result = d2l("run", "word2vec", "--corpus", str(folder), "--min-count", "1", "--dry-run",
                 "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    assert all(part in warnings[0] for part in (str(folder), "2 subdirectories", "1 pipe or device",
                                                "1 broken link")), warnings[0]



def test_a_resume_says_what_the_corpus_directory_skips_as_the_start_did(tmp_path):
    """Before: the start warned, the resume of the same run on the same directory said nothing."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text(TEXT)
    (folder / "sub").mkdir()
    result = d2l("run", "word2vec", "--corpus", str(folder), "--min-count", "1", "--epochs", "1", "--dim", "8",
                 "--quiet", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    run = only_run_dir(tmp_path / "out" / "word2vec")
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))  # stopped after its last step
    resumed = d2l("run", "word2vec", "--resume", str(run), "--quiet")
    assert resumed.exit_code == 0, resumed.output
    warnings = [line for line in resumed.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "1 subdirectory" in warnings[0], resumed.stderr
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"


# -- 5. the classes nobody listed -------------------------------------------------------------------------

def test_old_mac_line_ends_end_sentences(tmp_path):
    """CR-only line ends (classic Mac OS) were whitespace: the whole file one sentence, windows
    reaching across sentences. CRLF reads as before."""
    lines = [f"the cat sat w{i % 5}" for i in range(40)]
    (tmp_path / "mac.txt").write_bytes("\r".join(lines).encode())
    (tmp_path / "dos.txt").write_bytes("\r\n".join(lines).encode())
    (tmp_path / "unix.txt").write_bytes("\n".join(lines).encode())
    reads = {name: read_corpus(str(tmp_path / f"{name}.txt"), 1, cache_dir=tmp_path / "cache")
             for name in ("mac", "dos", "unix")}
    for read in reads.values():
        assert len(read.offsets) == 41 and np.array_equal(read.ids, reads["unix"].ids)
    assert datasets.read_corpus(tmp_path / "mac.txt") == [line.split() for line in lines]


@pytest.mark.parametrize(("encoding", "message"), [
    ("utf-16", r"is UTF-16 text \(it starts with a UTF-16 byte-order mark\); convert it, e.g. iconv -f UTF-16"),
    ("utf-16-le", r"looks like UTF-16 text \(every other byte is NUL\)"),
    ("utf-16-be", r"looks like UTF-16 text"),
    ("utf-32", r"is UTF-32 text"),
])
def test_a_utf16_or_utf32_corpus_is_named_as_such(tmp_path, encoding, message):
    corpus = tmp_path / "wide.txt"
    corpus.write_text(TEXT, encoding=encoding)
    line = _one_error_line(d2l("run", "word2vec", "--corpus", str(corpus), "--dry-run"))
    assert re.search(message, line), line
    with pytest.raises(UserError, match=message):
        datasets.read_corpus(corpus)


def test_a_file_name_that_is_not_utf8_inside_a_corpus_directory(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    with open(os.fsencode(folder) + b"/caf\xe9.txt", "w") as f:  # a Latin-1 name
        f.write(TEXT)
    (folder / "b.txt").write_text(TEXT)
    read = read_corpus(str(folder), 1, cache_dir=tmp_path / "cache")
    assert read.vocab.counts.sum() == 2 * len(TEXT.split()) and read.checksum.startswith("sha1:")


@pytest.mark.parametrize("too_long", ["name", "path"])
def test_a_corpus_path_longer_than_the_system_allows_is_one_line(tmp_path, too_long):
    if too_long == "name":  # a name over NAME_MAX (255 bytes)
        corpus = tmp_path / ("c" * 300 + ".txt")
    else:  # a path over PATH_MAX (4,096 bytes) whose every name is allowed
        deep = tmp_path
        while len(str(deep)) + 201 < 4000:  # whatever tmp_path's length (xdist's are longer)
            deep = deep / ("d" * 200)
        deep.mkdir(parents=True)
        (deep / "c.txt").write_text(TEXT)
        corpus = deep / ".." / deep.name / ".." / deep.name / "c.txt"
        assert (deep / "c.txt").is_file() and len(str(corpus)) > 4096
    line = _one_error_line(d2l("run", "word2vec", "--corpus", str(corpus), "--dry-run"))
    assert "cannot be read (File name too long)" in line and len(line) < 500, line


@pytest.mark.parametrize("text", ["\n\n\n", " \t \n\u00a0\u3000\n\u2028\n", "\r\r\r\n", "\ufeff\n"])
def test_a_corpus_of_only_whitespace_is_empty(tmp_path, text):
    corpus = tmp_path / "blank.txt"
    corpus.write_text(text, encoding="utf-8")
    line = _one_error_line(d2l("run", "glove", "--corpus", str(corpus), "--dry-run"))
    assert "blank.txt' is empty" in line, line


def test_one_enormous_line_is_read_in_bounded_memory(tmp_path):
    """text8 is 100 MB without a newline: it is read a block at a time, cut into sentences of
    MAX_LINE_CHARS (measured on 100 MB: peak RSS 128 MB, as before this change)."""
    import tracemalloc

    corpus = tmp_path / "oneline.txt"
    words = " ".join(f"w{i % 997}" for i in range(100_000)) + " "
    corpus.write_text(words * 24)  # 14 MB, no newline
    tracemalloc.start()
    pieces = sum(1 for _ in datasets.corpus_lines(corpus))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert pieces >= corpus.stat().st_size // datasets.MAX_LINE_CHARS
    assert peak < 8 * datasets.READ_BLOCK, peak


@pytest.mark.parametrize("locale", ["C", "tr_TR.UTF-8", "C.UTF-8"])
def test_a_non_ascii_corpus_reads_the_same_in_every_locale(tmp_path, locale):
    """Turkish dotted and dotless i, an NFD word and a non-ASCII file name, under LC_ALL=C and a
    Turkish locale (where case mappings of i differ): the same vocabulary, byte for byte."""
    corpus = tmp_path / "türkçe.txt"
    corpus.write_text("".join(f"İstanbul ılık {CAFE_NFD} straße w{i % 5} the cat\n" for i in range(50)),
                      encoding="utf-8")
    env = {**os.environ, "LC_ALL": locale, "LANG": locale, "D2L_LAB_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "d2l_lab", "run", "word2vec", "--corpus", str(corpus),
                             "--min-count", "1", "--epochs", "1", "--dim", "8", "--quiet", "--out",
                             str(tmp_path / "out")], capture_output=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    vocab = next((tmp_path / "out" / "word2vec").glob("*/vocab.tsv")).read_bytes().decode("utf-8")
    assert [line.split("\t")[0] for line in vocab.splitlines()][:4] == ["İstanbul", "ılık", CAFE_NFC, "straße"]


def test_a_cache_that_turns_read_only_mid_run_still_trains_and_leaves_no_temporary(tmp_path, monkeypatch):
    """The vocabulary is cached, then the cache refuses writes (a disk remounted read-only): the
    encoding goes to a temporary file, mapped and removed; the next run counts again."""
    import errno

    cache = tmp_path / "cache"
    monkeypatch.setenv("D2L_LAB_CACHE", str(cache))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    write = encoded_corpus.atomic_write

    def read_only_cache(path, writer):
        if Path(path).is_relative_to(cache) and Path(path).suffix != ".npz":
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return write(path, writer)
    monkeypatch.setattr(encoded_corpus, "atomic_write", read_only_cache)
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT)
    result = d2l("run", "word2vec", "--corpus", str(corpus), "--min-count", "1", "--epochs", "1", "--dim", "8",
                 "--quiet", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert [p.name.split(".", 1)[1] for p in _cache_files(cache)] == ["vocab.npz"]
    assert list((tmp_path / "tmp").iterdir()) == []
