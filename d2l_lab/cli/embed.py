"""`d2l embed similar|analogy|eval`: query word vectors from a run directory or any vectors file.

The first positional argument is a run unless `--vectors FILE` is given, so both
`d2l embed similar RUN chip` and `d2l embed similar --vectors glove.txt chip` read naturally; a
run is named as `d2l runs show` names it (an id prefix under --out, or a path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from d2l_lab.cli import output
from d2l_lab.cli.common import OutRoot, cli_errors
from d2l_lab.errors import UserError

app = typer.Typer(help="Query and evaluate word vectors (a run directory, or --vectors FILE).", no_args_is_help=True)

VectorsFile = Annotated[Optional[Path], typer.Option(
    "--vectors", help="word2vec text/binary, GloVe text or fastText .bin model (format detected) instead of a run "
    "directory",
    show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="print exactly one line on stdout: the answers as JSON")]
Limit = Annotated[Optional[int], typer.Option("--limit", help="load only the first (most frequent) N words",
                                              show_default=False)]
# embeddings.vectors.ANALOGY_METHODS, written out so the CLI loads without numpy (a test ties the two).
Method = Annotated[Literal["3cosadd", "3cosmul"], typer.Option(
    "--method", help="analogy scoring: 3cosadd (b - a + c) or 3cosmul (Levy & Goldberg)")]


def _load(args: list[str], vectors_file: Path | None, limit: int | None, words: int | None,
          out: Path) -> tuple[Any, list[str], Any]:
    """Split `[RUN] WORD...` and load the vectors; `words` is how many words must follow. Also
    returns the run they come from (its `RunRecord`; None with --vectors)."""
    if vectors_file is None:
        if not args:
            raise UserError("give a run (id prefix or directory) or --vectors FILE first")
        source, args = args[0], args[1:]
    if words is not None and len(args) != words:
        raise UserError(f"expected {words} word(s) after the vectors source, got {len(args)}: {' '.join(args) or '-'}")
    from d2l_lab.cli.terminal import reading_bar

    with reading_bar("reading vectors") as progress:
        if vectors_file is not None:
            from d2l_lab.embeddings.vector_cache import load_vectors_cached

            return load_vectors_cached(vectors_file, limit=limit, warn=output.warn, progress=progress), args, None
        from d2l_lab.embeddings.run_vectors import load_run_vectors

        run = _find_run(source, out)
        return load_run_vectors(run.path, limit=limit, warn=output.warn, progress=progress), args, run


def _find_run(source: str, out: Path) -> Any:
    """The run `source` names, found as `d2l runs show` finds it (`runs.catalog.find_run`); a
    directory that holds the vectors is read as it is, and a file is a mistaken --vectors."""
    from d2l_lab.embeddings.run_vectors import VECTORS_NAME
    from d2l_lab.experiments.registry import catalog_experiments
    from d2l_lab.runs.catalog import find_run, record

    path = Path(source)
    if (path / VECTORS_NAME).is_file():
        return record(path, catalog_experiments())
    if path.is_file():
        raise UserError(f"'{source}' is a file, not a run: give it as --vectors {source}")
    return find_run(source, out, catalog_experiments())


def _emit(result: Any, as_json: bool, lines: list[str], run: Any = None) -> None:
    """The answers; below them, on stderr, one line when they come from an undertrained run."""
    if as_json:
        output.write_json(result)
        return
    output.write_line("\n".join(lines))
    if run is not None:
        from d2l_lab.cli.terminal import undertrained_note

        if (note := undertrained_note(run.summary)) is not None:
            output.note(note)


@app.command()
def similar(
    args: Annotated[list[str], typer.Argument(metavar="[RUN] WORD...", help="run id prefix or directory, then "
                                                                          "query words")],
    k: Annotated[int, typer.Option("-k", help="neighbours per word", min=1)] = 5,
    vectors: VectorsFile = None,
    limit: Limit = None,
    json: Json = False,
    out: OutRoot = Path("outputs"),
) -> None:
    """Nearest neighbours by cosine similarity."""
    with cli_errors():
        vecs, words, run = _load(args, vectors, limit, None, out)
        if not words:
            raise UserError("give at least one query word")
        unknown = _unknown_words(vecs, words)
        if len(unknown) == len(set(words)):
            raise _not_in_vocabulary(unknown)
        for message in unknown.values():
            output.warn(f"{message}: skipped")
        _check_candidates(vecs, [word for word in words if word not in unknown][:1])  # each query on its own
        result = {word: vecs.most_similar(word, k=k) for word in words if word not in unknown}
        lines = [f"{word}: " + ", ".join(f"{w} ({s:.3f})" for w, s in hits) for word, hits in result.items()]
        _emit({w: [[n, s] for n, s in hits] for w, hits in result.items()}, json, lines, run)


def _unknown_words(vecs: Any, words: list[str]) -> dict[str, str]:
    """Each query word the vectors cannot answer for -> why: not in the vocabulary (with a hint),
    or an all-zero vector, whose cosine with every word is 0, so any "neighbours" would be the
    vocabulary's first words in order, not an answer."""
    unknown = {}
    for word in dict.fromkeys(words):
        try:
            if not vecs.vector(word).any():
                unknown[word] = (f"word {word!r} has an all-zero vector, so no word is nearer to it than another: "
                                 "query another word or re-export the vectors")
        except UserError as exc:
            unknown[word] = str(exc)
    return unknown


def _check_candidates(vecs: Any, query: list[str]) -> None:
    """A query needs at least one word besides its own to answer with."""
    if len(vecs) <= len({vecs.position(word) for word in query} - {None}):
        raise UserError(f"the vectors hold only {len(vecs):,} word(s), all in the query, so there is nothing to "
                        "answer with: load more words (raise --limit) or use a larger vocabulary")


def _not_in_vocabulary(unknown: dict[str, str]) -> UserError:
    """One line for words that cannot be answered: a lone word's own message, else all of them."""
    if len(unknown) == 1:
        return UserError(next(iter(unknown.values())))
    return UserError(f"the words {', '.join(map(repr, unknown))} are not in the vocabulary: check spelling or "
                     "lower-case them")


@app.command()
def analogy(
    args: Annotated[list[str], typer.Argument(metavar="[RUN] A B C", help="run id prefix or directory, then "
                                                                         "a is to b as c is to ?")],
    k: Annotated[int, typer.Option("-k", help="answers to show", min=1)] = 1,
    method: Method = "3cosadd",
    vectors: VectorsFile = None,
    limit: Limit = None,
    json: Json = False,
    out: OutRoot = Path("outputs"),
) -> None:
    """Solve a : b :: c : ? (the book's `get_analogy`: man woman son -> daughter)."""
    with cli_errors():
        vecs, (a, b, c), run = _load(args, vectors, limit, 3, out)
        unknown = _unknown_words(vecs, [a, b, c])
        if unknown:  # one query: it fails whole, naming every word it lacks
            raise _not_in_vocabulary(unknown)
        _check_candidates(vecs, [a, b, c])
        answers = vecs.analogy(a, b, c, k=k, method=method)
        lines = [f"{a} : {b} :: {c} : {w}  ({s:.3f})" for w, s in answers]
        _emit({"query": [a, b, c], "method": method, "answers": [[w, s] for w, s in answers]}, json, lines, run)


@app.command(name="eval")
def evaluate(
    args: Annotated[Optional[list[str]], typer.Argument(metavar="[RUN]", help="run id prefix or directory")] = None,
    sets: Annotated[Optional[list[str]], typer.Option(
        "--set", help="an evaluation set to score, by name (repeat for several; `d2l data list` names them; "
                      "a fetched one needs `d2l data fetch NAME` first)", show_default="the bundled sets")] = None,
    case_sensitive: Annotated[bool, typer.Option(
        "--case-sensitive", help="match words exactly; by default a word matches its most frequent spelling "
                                 "in any case (gensim's case_insensitive=True)")] = False,
    restrict_vocab: Annotated[int, typer.Option(
        help="only the N most frequent words are known and answer analogies (gensim's default; 30000 here "
             "before 2026-12)", min=1)] = 300_000,
    oov: Annotated[Literal["skip", "zero"], typer.Option(
        help="items with an unknown word: skip them, or score them 0 / wrong (gensim's dummy4unknown)")] = "skip",
    method: Method = "3cosadd",
    vectors: VectorsFile = None,
    limit: Limit = None,
    json: Json = False,
    out: OutRoot = Path("outputs"),
) -> None:
    """Score the vectors under gensim's protocol: Spearman rho on the word-similarity sets, accuracy
    on the analogies, each with its coverage (items used of the total). By default the bundled sets
    (WordSim-353, SimLex-999, Google analogies)."""
    with cli_errors():
        from d2l_lab.embeddings.eval_sets import DEFAULT_SETS, check_fetched, named_sets
        from d2l_lab.embeddings.protocol import Protocol

        chosen = named_sets(sets) if sets else DEFAULT_SETS
        check_fetched(chosen)
        protocol = Protocol(not case_sensitive, restrict_vocab, oov, method)
        vecs, _, _ = _load(list(args or []), vectors, limit, 0, out)
        from d2l_lab.embeddings.standard_eval import evaluate_standard

        result = evaluate_standard(vecs, protocol, chosen)
        _emit(result, json, eval_lines(result, len(vecs), protocol.describe()))


def eval_lines(result: dict[str, Any], vocab_size: int, protocol: str) -> list[str]:
    """The terminal table of an evaluation: each set's score and coverage, under its protocol."""
    from d2l_lab.embeddings.eval_sets import EVAL_SETS

    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines = [f"vocabulary: {vocab_size:,} words; {protocol}"]
    for s in (s for s in EVAL_SETS if s.name in result):
        r = result[s.name]
        lines.append(f"{s.label or s.name}: {s.score} {number(r[s.score])}, coverage {r[f'{s.items}_used']:,}/"
                     f"{r[f'{s.items}_total']:,} {s.items} ({r[f'{s.items}_oov']:,} out of vocabulary)")
        for section, stats in r.get("sections", {}).items():
            lines.append(f"  {section}: accuracy {number(stats['accuracy'])}, coverage "
                         f"{stats['questions_used']:,}/{stats['questions_total']:,}")
    return lines
