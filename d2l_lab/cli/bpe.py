"""`d2l bpe`: learn byte-pair-encoding merges from a corpus, then segment words or text with them.

Only the standard library and typer load before a command runs; the corpus reader is imported
inside `learn`, so `d2l --help` stays instant.
"""

from __future__ import annotations

import time
from collections import Counter
from itertools import chain
from pathlib import Path
from typing import Annotated, Optional

import typer

from d2l_lab.cli import output
from d2l_lab.cli.common import cli_errors
from d2l_lab.datasets.corpus_files import FORMATS
from d2l_lab.embeddings.bpe import EOW, Segmenter, learn_merges, load_merges, save_merges, symbol_vocabulary
from d2l_lab.errors import UserError
from d2l_lab.files import atomic_write_text
from d2l_lab.files import read_utf8_text

app = typer.Typer(help="Byte-pair encoding, as in the book's 'Subword Embedding' section: learn merges from a "
                       "corpus, then split words into subword pieces ending in the end-of-word marker '_'.",
                  no_args_is_help=True)


def _sentences(corpus: str) -> list[list[str]]:
    from d2l_lab.datasets.corpus import read_corpus, read_ptb

    return read_ptb() if corpus == "ptb" else read_corpus(corpus)


def _unwritable(path: Path, exc: OSError) -> UserError:
    return UserError(f"cannot write '{path}' ({exc.strerror or exc}): choose a path in an existing, writable "
                     "directory")


@app.command()
def learn(
    corpus: Annotated[str, typer.Argument(
        help=f"whitespace-tokenised text file ({FORMATS}), or 'ptb' for the bundled Penn Treebank "
             "train split (a file named ptb: ./ptb)", show_default=False)],
    merges: Annotated[int, typer.Option("--merges", help="number of merges to learn, >= 1",
                                        show_default=False)],
    output_file: Annotated[Path, typer.Option("--output", "-o", help="merges file to write")] = Path("bpe-merges.txt"),
    min_count: Annotated[int, typer.Option("--min-count", help="ignore words seen fewer times than this")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="also print one line on stdout: what was learned, as "
                                                   "JSON")] = False,
) -> None:
    """Learn merges from word counts (ties: first word and position in the corpus win, as in the book)."""
    with cli_errors():
        if merges < 1:
            raise UserError(f"--merges must be >= 1, got {merges}: ask for at least one merge")
        if min_count < 1:
            raise UserError(f"--min-count must be >= 1, got {min_count}: 1 keeps every word")
        started = time.perf_counter()
        counts = Counter(chain.from_iterable(_sentences(corpus)))  # first-seen order: the tie rule
        kept = {word: count for word, count in counts.items() if count >= min_count}
        if not kept:
            raise UserError(f"no word of {corpus} occurs {min_count} times or more: lower --min-count")
        learned = learn_merges(kept, merges)
        try:
            save_merges(output_file, learned)
        except OSError as exc:
            raise _unwritable(output_file, exc) from None
        summary = {
            "merges": len(learned), "requested": merges, "symbols": len(symbol_vocabulary(kept, learned)),
            "words": len(kept), "tokens": sum(kept.values()), "min_count": min_count, "corpus": corpus,
            "output": str(output_file), "seconds": round(time.perf_counter() - started, 3),
        }
        early = f"; stopped early, every word is one symbol after {len(learned)}" if len(learned) < merges else ""
        output.note(f"learned {len(learned)} merges from {len(kept):,} word types ({summary['tokens']:,} tokens): "
                    f"{summary['symbols']:,} symbols{early}; wrote {output_file}")
        if as_json:
            output.write_json(summary)


@app.command("apply")
def apply_(
    merges: Annotated[Path, typer.Option("--merges", help="merges file written by `d2l bpe learn`",
                                         show_default=False)],
    words: Annotated[Optional[list[str]], typer.Argument(
        help="words to segment: one output line per word, its pieces separated by spaces", show_default=False)] = None,
    input_file: Annotated[Optional[Path], typer.Option(
        "--input", "-i", help="text file to segment line by line instead of WORDs (default: none)",
        show_default=False)] = None,
    output_file: Annotated[Optional[Path], typer.Option("--output", "-o", help="file to write (default: stdout)",
                                                   show_default=False)] = None,
) -> None:
    """Split words into pieces with learned merges; unseen characters stay single pieces.

    With --input, pieces and words alike are separated by single spaces.

    Only a word's last piece ends in '_': delete the spaces and turn each '_' into a space to get the text back.
    """
    with cli_errors():
        if bool(words) == (input_file is not None):
            raise UserError("give either WORDs or --input FILE (exactly one of them) to segment")
        if words and any(word.split() != [word] for word in words):
            raise UserError("a WORD is empty or contains whitespace: pass one word per argument, or a text file "
                            "with --input")
        segmenter = Segmenter(load_merges(merges))
        if words:
            lines = [" ".join(segmenter.word(word)) for word in words]
        else:
            text = read_utf8_text(input_file, "input file", "give a UTF-8 text file")
            lines = [segmenter.text(line) for line in text.split("\n")]
            if lines[-1] == "":
                lines.pop()  # the final newline ends the last line; it does not start another
            ambiguous = sum(EOW in word for word in set(text.split()))
            if ambiguous:
                output.warn(f"{ambiguous} distinct words contain '{EOW}', the end-of-word marker: "
                            "their pieces cannot be told apart from word ends in the output")
        result = "".join(line + "\n" for line in lines)
        if output_file is None:
            output.write_text(result)
        else:
            try:
                atomic_write_text(output_file, result)
            except OSError as exc:
                raise _unwritable(output_file, exc) from None
