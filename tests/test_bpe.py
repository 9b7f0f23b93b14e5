"""Byte-pair encoding: the book's toy example checked against the book's own code, round trips on
every PTB word, the merges file, and the `d2l bpe` commands."""

from __future__ import annotations

import ast
import collections
import json
import random
import re
import string
import subprocess
import sys
from collections import Counter
from itertools import chain
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from d2l_lab.cli import bpe as bpe_cli
from d2l_lab.embeddings.bpe import (
    HEADER,
    Segmenter,
    apply_merges,
    decode_text,
    learn_merges,
    load_merges,
    save_merges,
    segment_BPE,
    segment_text,
    symbol_vocabulary,
)
from d2l_lab.errors import UserError

# --- the book's code ("Subword Embedding", byte pair encoding), as the reference oracle -------

BOOK_SYMBOLS = [*string.ascii_lowercase, "_", "[UNK]"]


def book_get_max_freq_pair(token_freqs):
    pairs = collections.defaultdict(int)
    for token, freq in token_freqs.items():
        symbols = token.split()
        for i in range(len(symbols) - 1):
            pairs[symbols[i], symbols[i + 1]] += freq
    return max(pairs, key=pairs.get)


def book_merge_symbols(max_freq_pair, token_freqs, symbols, exact=False):
    symbols.append("".join(max_freq_pair))
    new_token_freqs = dict()
    for token, freq in token_freqs.items():
        if exact:  # The book's str.replace can also join 'ax y' for ('x', 'y'): match whole symbols.
            pattern = r"(?<!\S)" + re.escape(" ".join(max_freq_pair)) + r"(?!\S)"
            new_token = re.sub(pattern, lambda _: "".join(max_freq_pair), token)
        else:
            new_token = token.replace(" ".join(max_freq_pair), "".join(max_freq_pair))
        new_token_freqs[new_token] = token_freqs[token]
    return new_token_freqs


def book_bpe(raw_token_freqs, num_merges, exact=False):
    """The book's loop; stops when no pair is left (where the book's `max` would raise)."""
    symbols = list(BOOK_SYMBOLS)
    token_freqs = {" ".join(list(token)): freq for token, freq in raw_token_freqs.items()}
    merges = []
    for _ in range(num_merges):
        if all(" " not in token for token in token_freqs):
            break
        max_freq_pair = book_get_max_freq_pair(token_freqs)
        token_freqs = book_merge_symbols(max_freq_pair, token_freqs, symbols, exact)
        merges.append(max_freq_pair)
    return merges, token_freqs, symbols


# What the book prints.
BOOK_RAW = {"fast_": 4, "faster_": 3, "tall_": 5, "taller_": 4}
BOOK_MERGES = [("t", "a"), ("ta", "l"), ("tal", "l"), ("f", "a"), ("fa", "s"), ("fas", "t"), ("e", "r"),
               ("er", "_"), ("tall", "_"), ("fast", "_")]
BOOK_TOKEN_FREQS = {"fast_": 4, "fast er_": 3, "tall_": 5, "tall er_": 4}
BOOK_SEGMENTED = ["tall e s t _", "fa t t er_"]


def test_book_toy_example_exactly() -> None:
    oracle_merges, oracle_freqs, oracle_symbols = book_bpe(BOOK_RAW, 10)
    assert oracle_merges == BOOK_MERGES and oracle_freqs == BOOK_TOKEN_FREQS

    words = {token.removesuffix("_"): freq for token, freq in BOOK_RAW.items()}
    merges = learn_merges(words, 10)
    assert merges == BOOK_MERGES
    assert {" ".join(apply_merges(word, merges)): freq for word, freq in words.items()} == BOOK_TOKEN_FREQS
    assert segment_BPE(["tallest_", "fatter_"], oracle_symbols) == BOOK_SEGMENTED
    assert segment_BPE(["tallest_", "fatter_"], symbol_vocabulary(words, merges)) == BOOK_SEGMENTED
    assert segment_BPE(["tallé_"], oracle_symbols) == ["tall [UNK]"]


def test_matches_the_book_on_random_corpora_including_ties() -> None:
    rng = random.Random(0)
    for _ in range(150):
        words = {"".join(rng.choice("aab_") for _ in range(rng.randint(0, 7))): rng.randint(1, 3)
                 for _ in range(rng.randint(1, 25))}
        expected, _, _ = book_bpe({word + "_": freq for word, freq in words.items()}, 80, exact=True)
        assert learn_merges(words, 80) == expected, words


def test_stops_when_every_word_is_one_symbol() -> None:
    assert learn_merges({"ab": 1, "b": 3}, 10) == [("b", "_"), ("a", "b_")]
    assert learn_merges({"ab": 1}, 0) == []


# --- PTB -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ptb_counts() -> Counter:
    from d2l_lab.datasets.corpus import read_ptb

    return Counter(chain.from_iterable(read_ptb()))


@pytest.fixture(scope="module")
def ptb_merges(ptb_counts: Counter) -> list[tuple[str, str]]:
    return learn_merges(ptb_counts, 500)


@pytest.mark.slow
def test_every_ptb_word_round_trips(ptb_counts: Counter, ptb_merges: list[tuple[str, str]]) -> None:
    segmenter = Segmenter(ptb_merges)
    for word in ptb_counts:
        pieces = segmenter.word(word)
        assert "".join(pieces) == word + "_", word
        assert [piece.endswith("_") for piece in pieces] == [False] * (len(pieces) - 1) + [True], pieces
    assert len(set(ptb_merges)) == 500
    line = "the <unk> company 's shares rose N N to $ N"
    assert decode_text(segment_text(line, ptb_merges)) == line


def test_learning_is_deterministic() -> None:
    # Nothing may depend on set or dict hashing: the same merges under other hash seeds, and
    # asking for fewer merges gives a prefix of the same list.
    code = ("import random; from d2l_lab.embeddings.bpe import learn_merges; r = random.Random(1); "
            "w = {''.join(r.choice('abcde_') for _ in range(r.randint(1, 9))): r.randint(1, 4) for _ in range(300)}; "
            "print(learn_merges(w, 300)); print(learn_merges(w, 100))")
    outputs = {subprocess.run([sys.executable, "-c", code], env={"PYTHONHASHSEED": seed}, capture_output=True,
                              text=True, check=True, cwd=Path(__file__).parents[1]).stdout for seed in ("1", "2")}
    assert len(outputs) == 1
    merges, prefix = map(ast.literal_eval, outputs.pop().splitlines())
    assert len(merges) == 300 and merges[:100] == prefix


def test_unseen_characters_stay_single_pieces(ptb_merges: list[tuple[str, str]]) -> None:
    assert apply_merges("ΩΩ€", ptb_merges) == ["Ω", "Ω", "€", "_"]
    pieces = apply_merges("theΩre", ptb_merges)
    assert "Ω" in pieces and "".join(pieces) == "theΩre_"
    assert apply_merges("", ptb_merges) == ["_"]


def test_a_repeated_merge_keeps_its_first_rank() -> None:
    assert apply_merges("xef", [("a", "b"), ("c", "d"), ("a", "b"), ("e", "f")]) == ["x", "ef", "_"]


# --- merges file -----------------------------------------------------------------------------

def test_merges_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "merges.txt"
    merges = [("t", "a"), ("ta", "l"), ("Ω", "_"), ("_", "_")]
    save_merges(path, merges)
    assert path.read_text(encoding="utf-8").splitlines() == [HEADER, "t a", "ta l", "Ω _", "_ _"]
    assert load_merges(path) == merges
    assert [p.name for p in tmp_path.iterdir()] == ["merges.txt"]
    with pytest.raises(ValueError, match="whitespace"):
        save_merges(path, [("a b", "c")])


@pytest.mark.parametrize(("content", "message"), [
    (None, "does not exist"),
    ("t a\n", f"does not start with the line '{HEADER}'"),
    (f"{HEADER}\nt a\nta\n", "line 3 is not 'LEFT RIGHT'"),
    (f"{HEADER}\nt a b\n", "line 2 is not 'LEFT RIGHT'"),
    (b"#d2l-lab bpe merges v1\n\xff \xfe\n", "is not UTF-8 text"),
])
def test_bad_merges_file_is_a_one_line_user_error(tmp_path: Path, content: str | bytes | None, message: str) -> None:
    path = tmp_path / "merges.txt"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=re.escape(message)) as info:
        load_merges(path)
    assert "\n" not in str(info.value)


# --- CLI -------------------------------------------------------------------------------------

def bpe(*args: str) -> Result:
    app = typer.Typer()
    app.add_typer(bpe_cli.app, name="bpe")
    return CliRunner().invoke(app, ["bpe", *args])


def test_cli_learn_then_apply_round_trips(tmp_path: Path) -> None:
    text = "the fast dog is faster than the tall dog\n\nthe taller one   wins\n"
    (tmp_path / "corpus.txt").write_text(text, encoding="utf-8")
    merges = tmp_path / "merges.txt"

    learned = bpe("learn", str(tmp_path / "corpus.txt"), "--merges", "15", "-o", str(merges), "--json")
    assert learned.exit_code == 0, learned.stderr
    summary = json.loads(learned.stdout)
    assert summary["merges"] == 15 and summary["words"] == 10 and summary["tokens"] == 13
    assert "learned 15 merges from 10 word types" in learned.stderr
    assert load_merges(merges) == learn_merges(Counter(text.split()), 15)

    words = bpe("apply", "--merges", str(merges), "tallest", "fatter")
    assert words.exit_code == 0, words.stderr
    assert [line.replace(" ", "") for line in words.stdout.splitlines()] == ["tallest_", "fatter_"]

    out = tmp_path / "segmented.txt"
    applied = bpe("apply", "--merges", str(merges), "--input", str(tmp_path / "corpus.txt"), "-o", str(out))
    assert applied.exit_code == 0, applied.stderr
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[1] == "" and lines[-1] == "" and len(lines) == 4
    assert [decode_text(line) for line in lines[:3]] == [" ".join(line.split()) for line in text.splitlines()]


def test_cli_learn_help_names_every_compressed_format_it_reads(tmp_path: Path, monkeypatch) -> None:
    import bz2
    import gzip
    import lzma

    from d2l_lab.datasets.corpus_files import COMPRESSED

    monkeypatch.setenv("COLUMNS", "400")
    shown = " ".join(bpe("learn", "--help").stdout.split())
    assert "(plain, .gz, .bz2 or .xz)" in shown  # it said ".gz or .xz", and read .bz2 too
    compress = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}
    for suffix in COMPRESSED:
        corpus = tmp_path / f"corpus.txt{suffix}"
        corpus.write_bytes(compress[suffix](b"low lower lowest\n"))
        learned = bpe("learn", str(corpus), "--merges", "2", "-o", str(tmp_path / "merges.txt"), "--json")
        assert learned.exit_code == 0 and json.loads(learned.stdout)["words"] == 3, learned.stderr


def test_cli_learn_stops_early_and_reads_ptb(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("ab ab b\n", encoding="utf-8")
    early = bpe("learn", str(tmp_path / "c.txt"), "--merges", "9", "-o", str(tmp_path / "m.txt"))
    assert early.exit_code == 0 and "stopped early" in early.stderr

    ptb = bpe("learn", "ptb", "--merges", "5", "--min-count", "1000", "-o", str(tmp_path / "ptb.txt"), "--json")
    assert ptb.exit_code == 0, ptb.stderr
    assert json.loads(ptb.stdout)["merges"] == 5 and len(load_merges(tmp_path / "ptb.txt")) == 5


@pytest.mark.parametrize(("args", "message"), [
    (["learn", "ptb", "--merges", "0"], "--merges must be >= 1"),
    (["learn", "{tmp}/missing.txt", "--merges", "5"], "does not exist"),
    (["learn", "{tmp}/corpus.txt", "--merges", "5", "--min-count", "9"], "lower --min-count"),
    (["learn", "{tmp}/corpus.txt", "--merges", "5", "-o", "{tmp}/no/dir/m.txt"], "cannot write"),
    (["apply", "--merges", "{tmp}/missing.txt", "word"], "does not exist"),
    (["apply", "--merges", "{tmp}/corpus.txt", "word"], "does not start with the line"),
    (["apply", "--merges", "{tmp}/merges.txt"], "exactly one of them"),
    (["apply", "--merges", "{tmp}/merges.txt", "two words"], "contains whitespace"),
    (["apply", "--merges", "{tmp}/merges.txt", "--input", "{tmp}/missing.txt"], "does not exist"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "corpus.txt").write_text("a b a\n", encoding="utf-8")
    save_merges(tmp_path / "merges.txt", [("a", "_")])
    result = bpe(*(arg.format(tmp=tmp_path) for arg in args))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr and result.stdout == ""
