"""Issue 12's guards outside --resume: the end-of-run divergence rule, strict YAML, clipped echoes,
run names, the cache fallback, a damaged summary.json in `runs list`, and the grid size."""

from __future__ import annotations

import json

import pytest

from d2l_lab.config.loading import available_presets, load_yaml_text, read_yaml
from d2l_lab.config.schema import ECHO_LIMIT, clip
from d2l_lab.errors import UserError
from d2l_lab.runs.rundir import check_run_name
from d2l_lab.runs.runner import END_DIVERGENCE_FACTOR, _ended_diverged

from .conftest import d2l, only_run_dir
from .doc_pages import assert_quoted


# -- divergence at the end of a run ---------------------------------------------------------------

@pytest.mark.parametrize(("final", "start", "diverged"), [
    ({"loss": 5.6e6}, 10.5, True),                     # docs/results.md's GD lr 0.6 example
    ({"loss": 10.5 * END_DIVERGENCE_FACTOR * 1.01}, 10.5, True),
    ({"loss": 10.5 * END_DIVERGENCE_FACTOR * 0.99}, 10.5, False),
    ({"loss": 0.089}, 10.5, False),                    # quadratic-gd preset
    ({"loss": float("nan")}, 10.5, True),
    ({"loss": float("inf")}, 0.49, True),
    ({"loss": None}, 10.5, False),                     # no loss reported: nothing to judge
    ({}, 10.5, False),
    ({"loss": 5.0}, None, False),                      # no start known
    ({"loss": 0.0}, 0.0, False),                       # started at the minimum and stayed
])
def test_the_end_of_run_rule(final, start, diverged):
    assert _ended_diverged(final, start) is diverged


def test_docs_results_quotes_the_gd_example_as_this_file_asserts_it():
    assert_quoted("results.md", "GD lr 0.6 exceeds 2/lambda_max = 0.5 (it warns); x2 ends at -1673, loss 5.6e6 from "
                  "10.5, and the run exits 3, `status: diverged`")


@pytest.mark.slow
def test_the_gd_example_of_docs_results_is_reported_diverged_with_exit_3(tmp_path):
    result = d2l("run", "optim", "--problem", "quadratic", "--algo", "sgd", "--lr", "0.6", "--steps", "20",
                 "--json", "--out", str(tmp_path))
    assert result.exit_code == 3
    summary = json.loads(result.stdout)
    assert summary["status"] == "diverged" and summary["diverged_at_step"] == 20
    assert summary["final"]["x2"] == pytest.approx(-1673.365, abs=1e-3)
    assert "loss diverged: it ended at 5.6e+06 from 10.5" in result.stderr
    run = only_run_dir(tmp_path / "optim")
    assert (run / "trajectory.png").is_file() and (run / "metrics.csv").is_file()  # outputs kept


@pytest.mark.parametrize("args", [
    ("--problem", "quadratic", "--algo", "sgd", "--lr", "0.4", "--steps", "20"),           # the book's GD
    ("--problem", "quadratic", "--algo", "momentum", "--lr", "0.6", "--momentum", "0.5"),  # the README's tour
    ("--problem", "quadratic", "--algo", "sgd", "--lr", "0.49", "--steps", "20"),          # just stable
    ("--problem", "beale", "--algo", "momentum"),
])
def test_converging_or_slowly_oscillating_runs_still_complete(tmp_path, args):
    result = d2l("run", "optim", *args, "--json", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "completed"


@pytest.mark.slow
@pytest.mark.parametrize("preset", available_presets("optim"))
def test_no_optim_preset_is_caught_by_the_divergence_rule(tmp_path, preset):
    result = d2l("run", "optim", "--preset", preset, "--json", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    first = float((only_run_dir(tmp_path / "optim") / "metrics.csv").read_text().splitlines()[1].split(",")[3])
    assert summary["status"] == "completed" and summary["final"]["loss"] < first


@pytest.mark.slow
def test_an_embedding_run_ends_below_its_first_epoch_and_completes(tmp_path):
    from .conftest import write_topic_corpus

    corpus = write_topic_corpus(tmp_path / "topics.txt", 10, 200, 8)
    result = d2l("run", "word2vec", "--corpus", str(corpus), "--min-count", "1", "--epochs", "3", "--json",
                 "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "completed"
    rows = [r.split(",") for r in (only_run_dir(tmp_path / "word2vec") / "metrics.csv").read_text().splitlines()]
    epoch_losses = [float(r[2]) for r in rows[1:] if r[5] not in ("",)]
    assert epoch_losses[-1] < epoch_losses[0]


# -- strict YAML ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("a: 1\na: 2\n", "key 'a' is given twice (first at line 1)"),
    ("s:\n  x: 1\n  y: 2\n  x: 3\n", "key 'x' is given twice (first at line 2)"),
    ("a: &v 1\nb: *v\n", "alias '*v' is not allowed"),
    ("a: &a [x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "alias '*a' is not allowed"),
    ("{a: 1, a: 1}\n", "key 'a' is given twice"),
])
def test_duplicate_keys_and_aliases_are_refused(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as error:
        read_yaml(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_billion_laughs_is_refused_at_its_first_alias_with_a_short_line(tmp_path):
    """Refused while parsing, at the first alias, so nothing is ever expanded (9**12 items if it were)."""
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 12)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(levels) + "\n")
    with pytest.raises(UserError, match=r"alias '\*a0' is not allowed") as error:
        read_yaml(path)
    assert len(str(error.value)) < 300 and "\n" not in str(error.value)


def test_plain_yaml_still_loads():
    assert load_yaml_text("a: [1, 2]\nb: {c: x}\n") == {"a": [1, 2], "b": {"c": "x"}}
    assert load_yaml_text("&anchor [1, 2]") == [1, 2]  # an anchor alone expands nothing


# -- echoed values and names ------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["x" * 10**6, "a\nb\rc\x00d" * 100, [[1] * 1000] * 1000, {"k": "v\n" * 1000}])
def test_clip_is_one_bounded_line(value):
    text = clip(value)
    assert len(text) <= ECHO_LIMIT and "\n" not in text and "\r" not in text and "\x00" not in text


def test_clip_keeps_short_printable_values():
    assert clip("adam") == "adam" and clip(0.1) == "0.1" and clip("héllo") == "héllo"
    assert clip("abc\n") == "abc\\n"


@pytest.mark.parametrize("name", ["abc\n", "abc\r", "\nabc", "a/b", "..", "a" * 201, "-a", ""])
def test_run_names_are_matched_whole_and_bounded(name):
    with pytest.raises(UserError) as error:
        check_run_name(name)
    assert "\n" not in str(error.value) and len(str(error.value)) < 300


def test_a_long_name_leaves_no_experiment_directory(tmp_path):
    result = d2l("run", "optim", "--problem", "quadratic", "--steps", "2", "--name", "n" * 300, "--out",
                 str(tmp_path / "out"))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert check_run_name("n" * 200) == "n" * 200


# -- the cache ----------------------------------------------------------------------------------------

@pytest.fixture()
def cache_is_a_file(tmp_path, monkeypatch):
    import d2l_lab.cache as cache

    blocker = tmp_path / "cache-file"
    blocker.write_text("not a directory\n")
    monkeypatch.setenv("D2L_LAB_CACHE", str(blocker))
    monkeypatch.setattr(cache, "_fallback", None)
    monkeypatch.setattr(cache, "_warnings", [])
    return blocker


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["glove", "word2vec", "ppmi-svd"])
def test_an_unusable_cache_falls_back_to_none_with_one_warning(tmp_path, cache_is_a_file, experiment):
    from .conftest import write_topic_corpus

    corpus = write_topic_corpus(tmp_path / "topics.txt", 10, 100, 8)
    args = ("--epochs", "1") if experiment != "ppmi-svd" else ("--dim", "4")
    result = d2l("run", experiment, "--corpus", str(corpus), "--min-count", "1", *args, "--quiet",
                 "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "cache" in line]
    assert len(warnings) == 1 and "is a file: running without a cache" in warnings[0]
    assert cache_is_a_file.read_text() == "not a directory\n"


def test_the_fallback_cache_is_a_temporary_directory_and_warns_once(cache_is_a_file):
    from d2l_lab.cache import default_cache_dir, take_warnings

    first, second = default_cache_dir(), default_cache_dir()
    assert first == second and first.is_dir() and first != cache_is_a_file
    assert len(take_warnings()) == 1 and take_warnings() == []


def test_data_fetch_refuses_an_unusable_cache_before_downloading(cache_is_a_file, monkeypatch):
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("fetch must not download into a cache it cannot keep")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    result = d2l("data", "fetch", "glove.6b.50d", "--quiet")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: d2l data fetch needs a cache")


def test_a_usable_cache_is_the_configured_one(tmp_path, monkeypatch):
    import d2l_lab.cache as cache

    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "new" / "cache"))
    monkeypatch.setattr(cache, "_warnings", [])
    assert cache.default_cache_dir() == tmp_path / "new" / "cache" and cache.take_warnings() == []


# -- runs list with a damaged summary.json ------------------------------------------------------------

@pytest.fixture(scope="module")
def four_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    for lr in ("0.1", "0.2", "0.3", "0.4"):
        assert d2l("run", "optim", "--problem", "quadratic", "--steps", "2", "--lr", lr, "--quiet",
                   "--out", str(out)).exit_code == 0
    return out


@pytest.mark.parametrize("damage", [
    lambda s: {**s, "status": ["completed"]},
    lambda s: {**s, "final": "loss=1"},
    lambda s: {**s, "final": {"loss": {"nested": 1}}},
    lambda s: {**s, "started_at": 12345},
    lambda s: {**s, "wall_time_s": "fast"},
    lambda s: {**s, "status": "exploded"},
    lambda s: [1, 2, 3],
    lambda s: "just a string",
])
def test_one_damaged_summary_does_not_break_runs_list(four_runs, damage):
    runs = sorted((four_runs / "optim").iterdir())
    path = runs[1] / "summary.json"
    original = path.read_text()
    try:
        path.write_text(json.dumps(damage(json.loads(original))))
        for args in (("runs", "list"), ("runs", "list", "--json")):
            result = d2l(*args, "--out", str(four_runs))
            assert result.exit_code == 0, result.output
            assert "Traceback" not in result.output
        listed = {r["id"]: r["status"] for r in json.loads(result.stdout)}
        assert len(listed) == 4 and listed[runs[1].name] == "incomplete"
        assert sum(status == "completed" for status in listed.values()) == 3
    finally:
        path.write_text(original)


# -- grid size ----------------------------------------------------------------------------------------

def test_a_big_grid_says_its_size_before_validating(tmp_path):
    from d2l_lab.experiments.registry import experiment
    from d2l_lab.runs.grid import Request, plan

    sizes = []
    request = Request("optim", ("lr=0.1,0.2,0.3",), ("problem.name=quadratic", "train.steps=2"), seeds=2)
    axes, points = plan(request, experiment("optim").config_class, sizes.append)
    assert sizes == [6] and len(points) == 6
    with pytest.raises(UserError, match="more than the 5 allowed: shrink it, or pass --max-points 6"):
        plan(Request("optim", ("lr=0.1,0.2,0.3",), seeds=2, max_points=5), experiment("optim").config_class,
             sizes.append)
    assert sizes == [6]  # refused before announcing or expanding


def test_max_points_opts_in_to_a_bigger_grid():
    from d2l_lab.runs.grid import MAX_POINTS, _check_size

    assert _check_size([110, 100], 11_000) == 11_000
    with pytest.raises(UserError, match="11,000 points .*more than the 10,000 allowed"):
        _check_size([110, 100], MAX_POINTS)
    with pytest.raises(UserError, match=r"10\*\*18|1,000,000,000,000,000,000 points"):
        _check_size([10**6, 10**6, 10**6], MAX_POINTS)  # refused from the lengths alone, nothing expanded


# -- seeds where they change nothing --------------------------------------------------------------

def test_a_seed_on_a_deterministic_surface_is_warned_about(tmp_path):
    result = d2l("run", "optim", "--problem", "quadratic", "--steps", "2", "--seed", "3", "--quiet",
                 "--out", str(tmp_path))
    assert result.exit_code == 0
    assert "seed 3 changes nothing on the quadratic" in result.stderr
    quiet = d2l("run", "optim", "--problem", "quadratic", "--steps", "2", "--quiet", "--out", str(tmp_path))
    assert "changes nothing" not in quiet.stderr  # the default seed says nothing


@pytest.mark.parametrize(("grid", "seeds", "warned"), [
    (("lr=0.1,0.2",), 2, "4 of 4 points sweep seeds where the seed changes nothing"),
    (("seed=1,2",), None, "2 of 2 points"),
    (("problem=quadratic,airfoil",), 2, "2 of 4 points"),
    (("lr=0.1,0.2",), None, None),
])
def test_sweeping_seeds_on_a_deterministic_problem_warns_before_running(grid, seeds, warned):
    from d2l_lab.experiments.registry import experiment
    from d2l_lab.runs.grid import Request, plan

    heard: list[str] = []
    sets = ("problem.name=quadratic",) if not any(g.startswith("problem") for g in grid) else ()
    plan(Request("optim", grid, sets, seeds=seeds), experiment("optim").config_class, warn=heard.append)
    if warned is None:
        assert heard == []
    else:
        assert len(heard) == 1 and warned in heard[0]


# -- words a run could not read back --------------------------------------------------------------------

@pytest.mark.parametrize(("words", "bad"), [
    (["a", "b\x01c"], "b\x01c"), (["a", "x\x7f"], "x\x7f"), (["a b"], "a b"), ([""], ""), (["a", "é", "日本"], None),
])
def test_unstorable_words_are_found_and_refused_on_save(tmp_path, words, bad):
    import numpy as np

    from d2l_lab.embeddings.vector_formats import load_vectors, save_word2vec_text, unstorable_word
    from d2l_lab.embeddings.vectors import WordVectors

    assert unstorable_word(words) == bad
    vectors = WordVectors(words, np.ones((len(words), 2), dtype=np.float32))
    if bad is None:
        save_word2vec_text(vectors, tmp_path / "v.txt")
        assert load_vectors(tmp_path / "v.txt").words == words  # what we write we read back
    else:
        with pytest.raises(UserError, match="cannot store and read back"):
            save_word2vec_text(vectors, tmp_path / "v.txt")
        assert not (tmp_path / "v.txt").exists()
