"""Word-similarity and analogy benchmarks for judging trained embeddings: the bundled sets, and
the files `d2l data fetch` downloads (`eval_downloads`).

Words keep their case: the evaluation protocol decides how they are matched (case-insensitively
by default, as gensim). Results are cached tuples, so callers cannot corrupt the cache. Fetched
files are untrusted: their size is bounded and a malformed line is one error naming it.
"""

from __future__ import annotations

import functools
import math
import zipfile
from collections.abc import Callable
from pathlib import Path

from d2l_lab.datasets import bundled, eval_downloads
from d2l_lab.errors import UserError

SimilarityPair = tuple[str, str, float]
Analogy = tuple[str, str, str, str, str]
MAX_SET_BYTES = 16 << 20
"""The largest evaluation file read (the largest real one, BATS's zip, is under 1 MB)."""
MAX_BATS_FILES = 100


def parse_similarity(text: str, source: str) -> tuple[SimilarityPair, ...]:
    """'#' comment lines, then "word1<TAB>word2<TAB>score" (or whitespace-separated) lines."""
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        try:
            first, second, score = (field.strip() for field in fields)
            value = float(score)
        except ValueError:
            raise _malformed(source, number, line, "word1<TAB>word2<TAB>score") from None
        if not (first and second and math.isfinite(value)):
            raise _malformed(source, number, line, "word1<TAB>word2<TAB>score")
        pairs.append((first, second, value))
    return tuple(pairs)


def parse_analogies(text: str, source: str) -> tuple[Analogy, ...]:
    """Google's format: ": section" lines, each followed by "a b c expected" lines."""
    analogies = []
    section = None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith(":"):
            section = line[1:].strip()
        elif line.strip():
            words = line.split()
            if section is None or len(words) != 4:
                raise _malformed(source, number, line, "': section' first, then 'a b c expected'")
            analogies.append((section, *words))
    return tuple(analogies)


def parse_bats(path: Path) -> tuple[Analogy, ...]:
    """BATS 3.0's zip: one file per category of 50 "word<TAB>answer[/other answers]" lines.
    Each ordered pair of different lines is a question a:b :: c:d with each line's first answer,
    as gluon-nlp forms them (2,450 per category); the category is the question's section."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise UserError(f"{path} is not a zip archive: delete it and run `d2l data fetch bats3` again") from None
    with archive:
        members = sorted((m for m in archive.infolist() if m.filename.endswith(".txt")
                          and not Path(m.filename).name.startswith(".")), key=lambda m: m.filename)
        if not members or len(members) > MAX_BATS_FILES or sum(m.file_size for m in members) > MAX_SET_BYTES:
            raise UserError(f"{path} does not look like BATS 3.0 ({len(members)} .txt files): delete it and "
                            "run `d2l data fetch bats3` again")
        analogies = []
        for member in members:
            section = Path(member.filename).stem
            rows = []
            for number, line in enumerate(archive.read(member).decode("utf-8").splitlines(), 1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != 2:
                    raise _malformed(f"{path}:{member.filename}", number, line, "word<TAB>answer[/answer...]")
                rows.append((fields[0], fields[1].split("/")[0]))
            analogies += [(section, a, b, c, d) for a, b in rows for c, d in rows if (a, b) != (c, d)]
    return tuple(analogies)


def _malformed(source: str, number: int, line: str, expected: str) -> UserError:
    shown = line if len(line) <= 60 else line[:57] + "..."
    return UserError(f"{source} line {number} is malformed ({shown!r}; expected {expected}): the file is "
                     "damaged, delete it and fetch it again")


@functools.lru_cache(maxsize=None)
def load_wordsim353() -> tuple[SimilarityPair, ...]:
    """WordSimilarity-353: 353 (word1, word2, human mean score 0-10) triples."""
    return parse_similarity(bundled.read_text("wordsim353"), "wordsim353")


@functools.lru_cache(maxsize=None)
def load_simlex999() -> tuple[SimilarityPair, ...]:
    """SimLex-999: 999 (word1, word2, SimLex999 score 0-10) triples."""
    return parse_similarity(bundled.read_text("simlex999"), "simlex999")


@functools.lru_cache(maxsize=None)
def load_google_analogies() -> tuple[Analogy, ...]:
    """Google analogies: 19,544 (section, a, b, c, expected) in 14 sections; a:b :: c:expected."""
    return parse_analogies(bundled.read_text("google_analogies"), "google_analogies")


def fetched_loader(name: str, kind: str) -> Callable[[], tuple]:
    """The loader of a fetched set: reads the cached file (`d2l data fetch NAME` first)."""
    def load() -> tuple:
        path = eval_downloads.fetched_path(name)
        stat = path.stat()
        return _read_fetched(str(path), stat.st_size, stat.st_mtime_ns, kind)
    return load


@functools.lru_cache(maxsize=8)
def _read_fetched(path: str, size: int, mtime_ns: int, kind: str) -> tuple:
    """Parsed once per file version (the size and time in the key)."""
    if size > MAX_SET_BYTES:
        raise UserError(f"{path} is {size:,} bytes, more than any evaluation set: delete it and fetch it again")
    if kind == "bats":
        return parse_bats(Path(path))
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    return parse_similarity(text, path) if kind == "similarity" else parse_analogies(text, path)
