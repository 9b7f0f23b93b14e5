"""The evaluation protocol against values recorded once from gensim, and the fetched sets served
from a local HTTP server: fetched, checksum-verified, evaluated with their coverage."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import threading
import zipfile

import numpy as np
import pytest

from d2l_lab.config.schema import from_dict
from d2l_lab.datasets import eval_downloads
from d2l_lab.datasets.eval_downloads import RemoteEvalSet
from d2l_lab.datasets.evalsets import parse_analogies, parse_similarity
from d2l_lab.embeddings import eval_sets
from d2l_lab.embeddings.eval_sets import EvalSet
from d2l_lab.embeddings.evaluation import evaluate_analogies, evaluate_similarity
from d2l_lab.embeddings.protocol import Protocol
from d2l_lab.embeddings.vector_formats import load_vectors
from d2l_lab.errors import UserError
from d2l_lab.experiments.ppmi_svd import PPMISVDRunConfig

from .conftest import d2l

MEN = ["king", "man", "boy", "father", "son", "brother", "uncle", "husband", "prince", "nephew"]
WOMEN = ["queen", "woman", "girl", "mother", "daughter", "sister", "aunt", "wife", "princess", "niece"]


def case_world(path):
    """A word2vec text file: female = male + a shared offset + noise, and case variants with
    vectors of their own: 'KING' before 'king' (so it wins case-insensitively), 'King' near 'queen',
    'Queen' and 'Woman' among the rarest words."""
    rng = np.random.default_rng(2026)
    dim = 6
    offset = rng.standard_normal(dim)
    rows = {"the": rng.standard_normal(dim), "KING": rng.standard_normal(dim)}
    for m, w in zip(MEN, WOMEN):
        rows[m] = rng.standard_normal(dim)
        rows[w] = rows[m] + offset + 0.6 * rng.standard_normal(dim)
    rows["King"] = rows["queen"] + 0.1 * rng.standard_normal(dim)
    for extra in ("of", "and", "to", "Queen", "Woman"):
        rows[extra] = rng.standard_normal(dim)
    lines = [f"{len(rows)} {dim}"] + [w + " " + " ".join(f"{x:.4f}" for x in v) for w, v in rows.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


PAIRS = """# word1\tword2\tscore
king\tqueen\t8.5
King\tman\t6.0
KING\tprince\t7.7
man\twoman\t8.3
boy\tgirl\t8.1
father\tmother\t8.0
son\tTHE\t1.2
brother\tof\t0.9
Uncle\taunt\t7.2
husband\twife\t8.9
prince\tprincess\t8.4
nephew\tniece\t8.2
Queen\tWoman\t7.0
king\tunicorn\t3.0
dragon\tqueen\t2.5
the\tand\t0.5
"""

QUESTIONS = """: family
man woman king queen
man woman boy girl
King Queen father mother
boy girl son daughter
father mother brother sister
brother sister uncle aunt
uncle aunt husband wife
husband wife prince princess
prince princess nephew niece
nephew niece man woman
son daughter Man Woman
man woman unicorn dragon
: royal
KING QUEEN prince princess
king queen son daughter
prince princess king queen
: nothing known
unicorn dragon griffin sphinx
"""


GENSIM = {
    # Recorded once with gensim 4.4.0 (not a runtime dependency; these tests never import it):
    #   kv = KeyedVectors.load_word2vec_format(case_world(path))
    #   _, (rho, _), oov = kv.evaluate_word_pairs(pairs_file, **options)
    #   accuracy, sections = kv.evaluate_word_analogies(questions_file, **options)
    # options -> (rho, oov ratio %, total accuracy, {section: (correct, correct + incorrect)}); our
    # protocol's oov="zero" is gensim's dummy4unknown=True.
    (): (0.015384615384615385, 12.5, 0.42857142857142855, {"family": (4, 11), "royal": (2, 3)}),
    (("case_insensitive", False),): (0.2867132867132868, 25.0, 0.25, {"family": (3, 10), "royal": (0, 2)}),
    (("oov", "zero"),): (0.08977191540005218, 12.5, 0.375, {"family": (4, 12), "royal": (2, 3)}),
    (("restrict_vocab", 15),): (0.07142857142857144, 56.25, 0.5714285714285714, {"family": (3, 6), "royal": (1, 1)}),
    (("case_insensitive", False), ("oov", "zero"), ("restrict_vocab", 15)):
        (0.44628204309455854, 75.0, 0.1875, {"family": (2, 12), "royal": (1, 3)}),
}


@pytest.mark.parametrize("options", list(GENSIM), ids=lambda o: ",".join(f"{k}={v}" for k, v in o) or "default")
def test_similarity_and_analogies_equal_gensims(tmp_path, options):
    rho, oov_ratio, accuracy, sections = GENSIM[options]
    vectors = load_vectors(case_world(tmp_path / "case.txt"))
    protocol = Protocol(**dict(options))
    similarity = evaluate_similarity(vectors, parse_similarity(PAIRS, "pairs"), protocol)
    assert similarity["rho"] == pytest.approx(rho, abs=1e-9)
    assert similarity["oov_ratio"] == pytest.approx(oov_ratio, abs=1e-9) and similarity["pairs_total"] == 16
    analogies = evaluate_analogies(vectors, parse_analogies(QUESTIONS, "questions"), protocol)
    assert analogies["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    asked = "questions_total" if protocol.oov == "zero" else "questions_used"
    assert {name: (s["correct"], s[asked]) for name, s in analogies["sections"].items()
            if name != "nothing known"} == sections


def test_a_case_variant_answers_for_its_word():
    """'King' (near queen) answers 'king' case-insensitively, and a question word's case variants
    are never the answer: the protocol compares matched forms, as gensim compares upper-cased words."""
    words = ["a", "b", "c", "B", "king", "King"]
    a, b, c, other = np.eye(4)
    matrix = np.stack([a, b, c, b + 0.01 * other, other, b - a + c])
    vectors = load_vectors_from(words, matrix)
    question = [("s", "a", "b", "c", "king")]
    assert evaluate_analogies(vectors, question)["correct"] == 1
    assert evaluate_analogies(vectors, question, Protocol(case_insensitive=False))["correct"] == 0


def load_vectors_from(words, matrix):
    from d2l_lab.embeddings.vectors import WordVectors

    return WordVectors(words, matrix)


@pytest.fixture
def protocol_sets(monkeypatch):
    """The fixture's pairs and questions as two rows of the table, so the CLI can name them."""
    rows = (EvalSet("case_pairs", lambda: parse_similarity(PAIRS, "pairs"), "similarity", "case_rho"),
            EvalSet("case_questions", lambda: parse_analogies(QUESTIONS, "questions"), "analogy", "case_accuracy",
                    per_section=True))
    monkeypatch.setattr(eval_sets, "EVAL_SETS", (*eval_sets.EVAL_SETS, *rows))


@pytest.mark.parametrize("flags, options", [((), ()), (("--case-sensitive",), (("case_insensitive", False),))])
def test_embed_eval_json_equals_gensims_protocol(tmp_path, protocol_sets, flags, options):
    rho, oov_ratio, accuracy, _ = GENSIM[options]
    result = d2l("embed", "eval", "--vectors", str(case_world(tmp_path / "case.txt")), "--set", "case_pairs",
                 "--set", "case_questions", *flags, "--json")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["protocol"] == {"case_insensitive": not flags, "restrict_vocab": 300_000, "oov": "skip",
                                  "method": "3cosadd"}
    assert answer["case_pairs"]["rho"] == pytest.approx(rho, abs=1e-9)
    assert answer["case_pairs"]["oov_ratio"] == pytest.approx(oov_ratio, abs=1e-9)
    assert answer["case_questions"]["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    assert answer["case_questions"]["sections"]["nothing known"]["accuracy"] is None
    table = d2l("embed", "eval", "--vectors", str(tmp_path / "case.txt"), "--set", "case_questions", *flags).stdout
    assert "case-sensitive" in table if flags else "case-insensitive" in table
    assert "  family: accuracy" in table and "questions (" in table


# --- fetched sets, served from 127.0.0.1 ------------------------------------------------------

SIMILARITY_FILES = {
    "men3k": "sun\tsunlight\t50.0\nautomobile\tcar\t50.0\nriver\twater\t49.0\nking\tdragon\t3.0\n",
    "rw": "squishing\tsquirt\t5.88\nqueen\tking\t8.0\nman\twoman\t7.1\nboy\tgirl\t6.0\n",
    "simverb3500": "take\tremove\t6.81\r\nwalk\ttrail\t4.81\r\nfather\tmother\t3.2\r\nson\tdaughter\t5.0",
    "mturk771": "access\tgateway\t3.791666667\r\nking\tqueen\t4.5\r\nman\tboy\t3\r\nuncle\taunt\t4\r\n",
}


def bats_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("BATS_3.0/4_Lexicographic_semantics/L01 [gender].txt",
                         "man\twoman\nking\tqueen/monarch\nboy\tgirl\nfather\tmother\n")
        archive.writestr("BATS_3.0/3_Encyclopedic_semantics/E01 [country - capital].txt", "france\tparis\n")
    return buffer.getvalue()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Each fetched set's fixture file on a local HTTP server, pinned by its sha256."""
    files = {f"/{name}": text.encode() for name, text in SIMILARITY_FILES.items()} | {"/bats3": bats_zip()}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    for name, body in files.items():
        remote = eval_downloads.EVAL_DOWNLOADS[name[1:]]
        monkeypatch.setitem(eval_downloads.EVAL_DOWNLOADS, name[1:], RemoteEvalSet(
            f"http://127.0.0.1:{server.server_port}{name}", "sha256:" + hashlib.sha256(body).hexdigest(),
            remote.filename, remote.description))
    yield files
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.slow
def test_every_set_is_fetched_verified_and_evaluated_with_its_coverage(tmp_path, served):
    for name in eval_downloads.EVAL_DOWNLOADS:
        result = d2l("data", "fetch", name)
        assert result.exit_code == 0, result.stderr
        path = tmp_path / "cache" / "evalsets" / name / eval_downloads.EVAL_DOWNLOADS[name].filename
        assert result.stdout == f"{path}\n" and path.read_bytes() == served[f"/{name}"]
    vectors = str(case_world(tmp_path / "case.txt"))
    names = [flag for name in eval_downloads.EVAL_DOWNLOADS for flag in ("--set", name)]
    evaluated = d2l("embed", "eval", "--vectors", vectors, *names, "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    answer = json.loads(evaluated.stdout)
    assert list(answer) == ["protocol", "men3k", "rw", "simverb3500", "mturk771", "bats3"]
    coverage = {name: (r.get("pairs_used", r.get("questions_used")), r.get("pairs_total", r.get("questions_total")))
                for name, r in answer.items() if name != "protocol"}
    assert coverage == {"men3k": (0, 4), "rw": (3, 4), "simverb3500": (2, 4), "mturk771": (3, 4),
                        "bats3": (12, 12)}
    assert answer["mturk771"]["rho"] is not None and answer["men3k"]["rho"] is None
    # BATS: each ordered pair of different lines of a category, the first listed answer expected.
    assert answer["bats3"]["sections"]["L01 [gender]"]["questions_total"] == 12
    assert "E01 [country - capital]" not in answer["bats3"]["sections"]  # one pair: no question to ask
    table = d2l("embed", "eval", "--vectors", vectors, "--set", "rw", "--set", "bats3").stdout
    assert "rare words (RW): rho" in table and "coverage 3/4 pairs (1 out of vocabulary)" in table
    assert "  L01 [gender]: accuracy" in table


def test_a_corrupted_download_is_refused_and_nothing_is_cached(tmp_path, served, monkeypatch):
    good = eval_downloads.EVAL_DOWNLOADS["men3k"]
    monkeypatch.setitem(eval_downloads.EVAL_DOWNLOADS, "men3k", RemoteEvalSet(
        good.url, "sha256:" + "0" * 64, good.filename, good.description))
    result = d2l("data", "fetch", "men3k")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "expected 0000" in result.stderr
    assert not (tmp_path / "cache").exists()


def test_an_unfetched_or_unknown_set_fails_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(UserError, match="'men3k' is not fetched: run `d2l data fetch men3k`"):
        from_dict(PPMISVDRunConfig, {"eval_sets": ["men3k"]})
    with pytest.raises(UserError, match="unknown evaluation set 'men3000'"):
        from_dict(PPMISVDRunConfig, {"eval_sets": ["men3000"]})
    assert from_dict(PPMISVDRunConfig, {"eval_sets": ["simlex999"]}).eval_sets == ("simlex999",)
    result = d2l("embed", "eval", "--vectors", "nowhere.txt", "--set", "bats3")
    assert result.exit_code == 2 and "d2l data fetch bats3" in result.stderr


@pytest.mark.parametrize("text, problem", [("a\tb\n", "line 1 is malformed"), ("a\tb\tnan\n", "line 1"),
                                           ("# c\nx y z w\n", "line 2 is malformed")])
def test_malformed_similarity_lines_are_one_error_naming_the_line(text, problem):
    with pytest.raises(UserError, match=problem):
        parse_similarity(text, "f.txt")
    with pytest.raises(UserError, match="line 1 is malformed"):
        parse_analogies("a b c d\n", "q.txt")  # a question before any ': section'
