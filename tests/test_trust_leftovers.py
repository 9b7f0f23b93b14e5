"""Issue 12's leftovers: temporaries of killed writes cleaned on resume, a refused checkpoint in one
plain line, Markdown reports that cannot carry live HTML, and the git commit of our own tree only."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from d2l_lab.experiments.registry import experiment
from d2l_lab.runs.runner import RunOptions, execute

from .conftest import d2l
from .test_trust_resume import _interrupted


def test_resume_removes_the_temporaries_of_killed_writes_and_nothing_else(tmp_path):
    run = _interrupted(tmp_path)
    leftovers = [".checkpoint.pt.k2j4_x.tmp", ".metrics.csv.abc123.tmp", ".summary.json.q1.tmp", ".loss.png.zz.tmp"]
    for name in leftovers:
        (run / name).write_bytes(b"half a write")
    (run / ".notes.tmp").write_text("mine")  # not a write of ours: kept
    (run / "my-notes.txt").write_text("mine")
    assert d2l("run", "optim", "--resume", str(run), "--quiet").exit_code == 0
    assert not any((run / name).exists() for name in leftovers)
    assert (run / ".notes.tmp").exists() and (run / "my-notes.txt").exists()


def test_a_refused_resume_leaves_the_temporaries_alone(tmp_path):
    run = _interrupted(tmp_path)
    (run / ".checkpoint.pt.k2j4_x.tmp").write_bytes(b"half a write")
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("steps: 20", "steps: 21"))
    assert d2l("run", "optim", "--resume", str(run)).exit_code == 2
    assert (run / ".checkpoint.pt.k2j4_x.tmp").exists()


class _Payload:
    def __reduce__(self):
        return (print, ("never",))


def test_a_pickled_object_checkpoint_is_refused_in_one_plain_line(tmp_path):
    run = _interrupted(tmp_path)
    torch.save({"step": 1, "task": _Payload()}, run / "checkpoint.pt")
    result = d2l("run", "optim", "--resume", str(run))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot be loaded safely" in lines[0] and "\x1b" not in lines[0]


@pytest.mark.parametrize("hostile", ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
                                     "a|b\nc", "[x](javascript:alert(1))"])
def test_markdown_reports_escape_what_configs_carry(hostile):
    from d2l_lab.runs.report import _markdown

    text = _markdown(hostile, "now", [hostile], [hostile], [], [], ["col", hostile], [["v", hostile]])
    assert "<script" not in text and "<img" not in text and "[x](" not in text
    body = text.split("## Results")[1].strip().splitlines()
    assert len(body) == 3 and all(line.count(" | ") == 1 for line in body)  # one row, two cells, no extra


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


NO_GIT = pytest.mark.skipif(subprocess.run(["git", "--version"], capture_output=True).returncode != 0, reason="no git")


def _checkout(path: Path, module: str = "x = 1\n") -> Path:
    """A d2l-lab checkout at `path` (the package and a preset), one commit."""
    (path / "d2l_lab").mkdir(parents=True)
    (path / "d2l_lab" / "__init__.py").write_text("")
    (path / "d2l_lab" / "module.py").write_text(module)
    (path / "configs" / "optim").mkdir(parents=True)
    (path / "configs" / "optim" / "sgd.yaml").write_text("optimizer: {algo: sgd}\n")
    _git("init", "-q", cwd=path)
    _git("add", ".", cwd=path)
    _git("commit", "-q", "-m", "x", cwd=path)
    return path


def _installed(site: Path, module: str = "x = 1\n") -> Path:
    """The package as `pip install .` puts it in site-packages: the presets inside, as d2l_lab/configs."""
    package = site / "d2l_lab"
    (package / "configs" / "optim").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "module.py").write_text(module)
    (package / "configs" / "optim" / "sgd.yaml").write_text("optimizer: {algo: sgd}\n")
    return package


@NO_GIT
def test_git_commit_ignores_a_repository_that_merely_contains_the_installed_package(tmp_path, monkeypatch):
    import d2l_lab
    from d2l_lab.runs import environment

    outer = tmp_path / "someone-elses-repo"
    package = outer / "venv" / "lib" / "site-packages" / "d2l_lab"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    _git("init", "-q", cwd=outer)
    _git("commit", "-q", "--allow-empty", "-m", "x", cwd=outer)
    monkeypatch.setattr(d2l_lab, "__file__", str(package / "__init__.py"))
    monkeypatch.chdir(outer)
    assert environment.commit_fields() == {"git_commit": None, "git_commit_reason": environment.NOT_A_CHECKOUT}
    assert environment.NOT_A_CHECKOUT.startswith("installed package, not a checkout")


@NO_GIT
def test_git_commit_reads_a_checkout_whose_top_level_holds_the_package(tmp_path, monkeypatch):
    import d2l_lab
    from d2l_lab.runs import environment

    checkout = _checkout(tmp_path / "d2l-lab")
    monkeypatch.setattr(d2l_lab, "__file__", str(checkout / "d2l_lab" / "__init__.py"))
    monkeypatch.chdir(tmp_path)
    fields = environment.commit_fields()
    assert list(fields) == ["git_commit"] and len(fields["git_commit"]) == 40


@NO_GIT
def test_an_installed_package_has_the_commit_of_the_checkout_it_was_installed_from(tmp_path, monkeypatch):
    """`pip install .` from a clone, then `d2l run` in the clone: the README's set-up recorded null."""
    import d2l_lab
    from d2l_lab.runs import environment

    checkout = _checkout(tmp_path / "d2l-lab")
    package = _installed(tmp_path / "site-packages")
    monkeypatch.setattr(d2l_lab, "__file__", str(package / "__init__.py"))
    monkeypatch.chdir(checkout / "configs")  # anywhere in the clone
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True).stdout.strip()
    assert environment.commit_fields() == {"git_commit": head}
    (package / "module.py").write_text("x = 2\n")  # installed from another commit, or with changes
    fields = environment.commit_fields()
    assert fields["git_commit"] is None and fields["git_commit_reason"].startswith(
        f"the installed package differs from the checkout {checkout.resolve()} at {head[:12]}: reinstall it")
    (package / "module.py").write_text("x = 1\n")
    (package / "extra.py").write_text("")  # a module the commit does not have
    assert environment.commit_fields()["git_commit"] is None


def test_without_git_the_commit_is_null_and_says_why(monkeypatch):
    from d2l_lab.runs import environment

    def no_git(*args):
        raise FileNotFoundError(2, "No such file or directory: 'git'")

    monkeypatch.setattr(environment, "_git", no_git)
    assert environment.commit_fields() == {"git_commit": None,
                                           "git_commit_reason": "git could not be run (FileNotFoundError)"}


def test_a_relative_corpus_is_saved_absolute(tmp_path, monkeypatch):
    from d2l_lab.config.loading import compose

    monkeypatch.chdir(tmp_path)
    (tmp_path / "small.txt").write_text("a b c\n")
    spec = experiment("word2vec")
    assert compose(spec.config_class, "word2vec", sets=["corpus=small.txt"]).corpus == str(tmp_path / "small.txt")
    assert compose(spec.config_class, "word2vec", sets=["corpus=./sub/../small.txt"]).corpus == str(
        tmp_path / "small.txt")
    assert compose(spec.config_class, "word2vec").corpus is None  # the bundled PTB stays null


@pytest.mark.slow
def test_a_run_on_a_relative_corpus_resumes_from_another_directory(tmp_path, monkeypatch):
    from .conftest import write_topic_corpus

    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    data.mkdir()
    elsewhere.mkdir()
    write_topic_corpus(data / "small.txt", 10, 100, 8)
    monkeypatch.chdir(data)
    from d2l_lab.config.loading import compose

    spec = experiment("word2vec")
    config = compose(spec.config_class, "word2vec", sets=["corpus=small.txt", "word2vec.min_count=1",
                                                          "word2vec.epochs=2", "word2vec.dim=8"])
    asked = iter(range(10**6))
    run = execute("word2vec", config, spec.build_task(), RunOptions(out_root=tmp_path / "out", name="r"),
                  should_stop=lambda: next(asked) >= 1).run_dir
    monkeypatch.chdir(elsewhere)
    result = d2l("run", "word2vec", "--resume", str(run), "--quiet")
    assert result.exit_code == 0, result.output


def _disk_full(path):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device", str(path))


def test_a_full_disk_while_plotting_is_one_line_and_the_run_is_marked_failed(tmp_path, monkeypatch):
    import json

    from d2l_lab import plotting

    monkeypatch.setattr(plotting, "trajectory_plot", lambda path, *a, **k: _disk_full(path))
    result = d2l("run", "optim", "--problem", "quadratic", "--steps", "5", "--out", str(tmp_path))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "trajectory.png': No space left on device" in lines[0], result.stderr
    run = next((tmp_path / "optim").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "No space left" in summary["error"]
    assert len((run / "metrics.csv").read_text().splitlines()) == 7  # what was written stays whole
    listed = d2l("runs", "list", "--json", "--out", str(tmp_path))
    assert json.loads(listed.stdout)[0]["status"] == "failed"


def test_a_full_disk_while_writing_metrics_is_resumable(tmp_path, monkeypatch):
    import json

    from d2l_lab.runs import metrics

    real, calls = metrics.atomic_write_text, []

    def fails_on_the_third(path, text):
        calls.append(path)
        if len(calls) == 3:
            _disk_full(path)
        real(path, text)

    monkeypatch.setattr(metrics, "atomic_write_text", fails_on_the_third)
    result = d2l("run", "optim", "--problem", "quadratic", "--steps", "20", "--out", str(tmp_path))
    assert result.exit_code == 2 and "metrics.csv': No space left on device" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    run = next((tmp_path / "optim").iterdir())
    assert json.loads((run / "summary.json").read_text())["status"] == "failed"
    monkeypatch.setattr(metrics, "atomic_write_text", real)
    resumed = d2l("run", "optim", "--resume", str(run), "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"


def test_an_offline_fetch_leaves_no_empty_cache_directories(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    result = d2l("data", "fetch", "glove.6b.50d", "--quiet")
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
