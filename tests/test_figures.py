"""The figures the project draws, checked on their matplotlib artists (not pixels): seed bands,
metric directions, the embedding loss curve, titles and ticks."""

from __future__ import annotations

import csv
import json
import math
import statistics

import pytest
import yaml
from matplotlib.collections import PolyCollection

from d2l_lab import plotting
from d2l_lab.runs import compare, report
from d2l_lab.runs.catalog import select

from .conftest import d2l, write_topic_corpus

EXPERIMENTS = {"optim": ("problem.name", "optimizer.algo", "optimizer.lr"), "word2vec": (), "glove": ()}
TINY_AIRFOIL = ("--set", "train.epochs=1", "--set", "problem.examples=200", "--set", "train.eval_every=50")


def _losses(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def _run_dirs(out, experiment="optim"):
    return sorted(p for p in (out / experiment).iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """`d2l sweep` of two configurations (sgd, adam) on a small airfoil problem, three seeds each."""
    out = tmp_path_factory.mktemp("seeded")
    result = d2l("sweep", "optim", "--grid", "algo=sgd,adam", "--seeds", "3", *TINY_AIRFOIL, "--jobs", "1",
                 "--name", "seeds", "--quiet", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    return out


def _by_algo(run_dirs):
    groups = {}
    for path in run_dirs:
        groups.setdefault(yaml.safe_load((path / "config.yaml").read_text())["optimizer"]["algo"], []).append(path)
    return groups


@pytest.mark.slow
def test_seeds_of_one_configuration_are_one_mean_curve_over_a_std_band(seeded, tmp_path):
    selected = select([str(seeded / "sweeps" / "seeds")], seeded, EXPERIMENTS)
    groups = compare.grouped(selected, "loss")
    # the swept values and each algorithm's own lr, seeds left out
    assert [g.label for g in groups] == ["algo=sgd, lr=0.05", "algo=adam, lr=0.01"]
    assert all(len(g.curves) == 3 for g in groups)
    fig = compare.figure(groups, "loss", title="t")
    ax = fig.axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    lines = ax.get_lines()
    assert len(bands) == 2 and len(lines) == 2  # one band and one line per configuration, not one per seed
    for algo, dirs in _by_algo(_run_dirs(seeded)).items():
        runs = [_losses(d) for d in dirs]
        line = next(l for l in lines if l.get_label().startswith(f"algo={algo},"))
        assert "mean ± 1 std, n=3" in line.get_label()
        means = [statistics.fmean(v) for v in zip(*runs)]
        assert line.get_ydata() == pytest.approx(means, rel=1e-12)
        band = bands[[l.get_label() for l in lines].index(line.get_label())].get_paths()[0].vertices
        for x, values in zip(line.get_xdata(), zip(*runs)):
            edges = sorted({round(y, 12) for bx, y in band if bx == x})
            mean, std = statistics.fmean(values), statistics.stdev(values)
            assert edges == pytest.approx([mean - std, mean + std], rel=1e-9)  # the band is mean -+ 1 std
    assert "band: mean ± 1 std over seeds" in ax.get_title()
    plotting.save(fig, tmp_path / "seeds.png")


@pytest.mark.slow
def test_runs_list_of_the_three_seed_sweep_fits_80_columns_and_shows_the_seeds(seeded, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = d2l("runs", "list", "--out", str(seeded))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    seeds = {}
    for row in (line.split() for line in lines if line[:1].isdigit()):
        seeds.setdefault(row[2], []).append(row[1])  # id, seed, params (algo=...), ...
    assert {algo: sorted(s) for algo, s in seeds.items()} == {"algo=sgd": ["0", "1", "2"],
                                                              "algo=adam": ["0", "1", "2"]}


@pytest.mark.slow
def test_the_compare_table_gives_mean_and_std_of_each_configuration(seeded):
    result = d2l("runs", "compare", str(seeded / "sweeps" / "seeds"), "--out", str(seeded))
    assert result.exit_code == 0, result.stderr
    assert (seeded / "sweeps" / "seeds" / "compare-loss.png").stat().st_size > 10_000
    assert "best loss (lower)" in result.stdout and "min loss" not in result.stdout
    for algo, dirs in _by_algo(_run_dirs(seeded)).items():
        finals = [_losses(d)[-1] for d in dirs]
        mean, std = statistics.fmean(finals), statistics.stdev(finals)
        decimals = 1 - math.floor(math.log10(std))
        row = next(line for line in result.stdout.splitlines() if f"algo={algo}," in line)
        assert f"{mean:.{decimals}f} ± {std:.{decimals}f} (n=3)" in row


@pytest.mark.slow
def test_the_report_tables_seeds_as_mean_and_std(seeded, tmp_path):
    selected = select([str(seeded / "sweeps" / "seeds")], seeded, EXPERIMENTS)
    columns, rows = report.table(selected)
    assert len(rows) == 2 and all("(n=3)" in row[columns.index("loss")] for row in rows)
    for page in (tmp_path / "r.md", tmp_path / "r.html"):
        assert d2l("report", str(seeded / "sweeps" / "seeds"), "-o", str(page), "--out", str(seeded)).exit_code == 0
        assert page.read_text().count("(n=3)") >= 4  # loss and wall time of both configurations


def test_metric_directions():
    assert [compare.direction(m) for m in ("loss", "wordsim353_rho", "analogy_accuracy", "distance_to_minimum",
                                           "x1")] == ["lower", "higher", "higher", "lower", None]
    assert compare.best([0.3, 0.1, 0.2], "wordsim353_rho") == 0.3 and compare.best([0.3, 0.1], "loss") == 0.1
    assert compare.best([1.0], "x1") is None


def _fake_embedding_run(out, experiment, name, losses_per_epoch, rhos, lr, seed=0, extra=""):
    """A run directory as an embedding run writes it (the metrics.csv contract: in-epoch rows with
    blank wordsim353_rho, then the epoch's own row holding the epoch's mean loss and its rho)."""
    run = out / experiment / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"seed: {seed}\n{experiment}:\n  lr: {lr}\n{extra}")
    rows = ["epoch,progress,loss,lr,words_per_s,wordsim353_rho"]
    for epoch, (losses, rho) in enumerate(zip(losses_per_epoch, rhos), start=1):
        rows += [f"{epoch},{epoch - 1 + (i + 1) / len(losses)},{v},,," for i, v in enumerate(losses)]
        rows.append(f"{epoch},{float(epoch)},{statistics.fmean(losses)},0.01,1000,{rho}")
    (run / "metrics.csv").write_text("\n".join(rows) + "\n")
    (run / "summary.json").write_text(json.dumps({"experiment": experiment, "status": "completed",
                                                  "final": {"loss": losses_per_epoch[-1][-1],
                                                            "wordsim353_rho": rhos[-1]}}))
    return run


EPOCHS = [[3.0, 2.8, 2.7, 2.64], [2.62, 2.6, 2.58, 2.56]]


def test_an_embedding_loss_curve_is_its_in_epoch_points_against_epochs(tmp_path):
    run = _fake_embedding_run(tmp_path, "word2vec", "a", EPOCHS, [0.1, 0.2], 0.05)
    (curve,) = compare.curves(select([str(run)], tmp_path, EXPERIMENTS), "loss")
    assert curve.running and curve.x_name == "progress"
    assert curve.ys == EPOCHS[0] + EPOCHS[1]  # the epoch means (2.785, 2.59) would jump up at each boundary
    assert curve.xs == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert curve.scores == [statistics.fmean(e) for e in EPOCHS]  # tables give the epochs' means, as summary.json
    (rho,) = compare.curves(select([str(run)], tmp_path, EXPERIMENTS), "wordsim353_rho")
    assert not rho.running and rho.xs == [1.0, 2.0] and rho.ys == [0.1, 0.2]


def test_a_running_loss_is_drawn_faint_under_its_smoothed_curve(tmp_path):
    run = _fake_embedding_run(tmp_path, "word2vec", "a", EPOCHS, [0.1, 0.2], 0.05)
    fig = compare.figure(compare.grouped(select([str(run)], tmp_path, EXPERIMENTS), "loss"), "loss", title="t")
    raw, smooth = fig.axes[0].get_lines()
    assert raw.get_alpha() == plotting.RAW_ALPHA and list(raw.get_ydata()) == EPOCHS[0] + EPOCHS[1]
    assert list(smooth.get_ydata()) == plotting.smoothed(EPOCHS[0] + EPOCHS[1]) and smooth.get_alpha() is None
    assert fig.axes[0].get_xlabel() == "epoch"
    plotting.save(fig, tmp_path / "running.png")
    other = _fake_embedding_run(tmp_path, "word2vec", "b", [[v + 0.1 for v in e] for e in EPOCHS], [0.1, 0.2], 0.05,
                                seed=1, extra="log:\n  tensorboard: true\n")  # only the seed and what is logged differ
    (group,) = compare.grouped(select([str(run), str(other)], tmp_path, EXPERIMENTS), "loss")
    ax = compare.figure([group], "loss", title="t").axes[0]
    raw, smooth = ax.get_lines()  # the seeds' raw mean faint, its smoothed version over a band
    assert list(raw.get_ydata()) == pytest.approx([v + 0.05 for v in EPOCHS[0] + EPOCHS[1]])
    assert raw.get_alpha() == plotting.RAW_ALPHA and len(ax.collections) == 1
    plotting.save(ax.figure, tmp_path / "running-seeds.png")


def test_smoothing_is_a_centred_mean_that_keeps_the_ends():
    ys = [10.0, 0.0, 10.0, 0.0, 10.0, 0.0, 10.0, 0.0, 10.0, 0.0] * 4
    out = plotting.smoothed(ys, fraction=0.1)  # 40 points: 2 neighbours each side
    assert out[0] == ys[0] and out[-1] == ys[-1]
    assert out[1] == pytest.approx(20 / 3) and out[5] == pytest.approx(4.0)


@pytest.mark.slow
def test_best_rho_is_the_highest_and_mixed_experiments_are_refused_unless_allowed(tmp_path):
    a = _fake_embedding_run(tmp_path, "word2vec", "a", EPOCHS, [0.1, 0.3], 0.05)
    b = _fake_embedding_run(tmp_path, "word2vec", "b", EPOCHS, [0.2, 0.15], 0.1)
    g = _fake_embedding_run(tmp_path, "glove", "g", EPOCHS, [0.05, 0.06], 0.05)
    plot = str(tmp_path / "c.png")
    result = d2l("runs", "compare", str(a), str(b), "--metric", "wordsim353_rho", "-o", plot, "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert "best wordsim353_rho (higher)" in result.stdout
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.split() and line.split()[0] in "ab"}
    assert "0.3 " in rows["a"] and "0.2 " in rows["b"]  # a's best is its last epoch, b's its first
    refused = d2l("runs", "compare", str(a), str(g), "-o", plot, "--out", str(tmp_path))
    assert refused.exit_code == 2 and refused.stderr.startswith("error: ") and len(refused.stderr.splitlines()) == 1
    assert "--allow-mixed" in refused.stderr
    mixed = d2l("runs", "compare", str(a), str(g), "--allow-mixed", "-o", plot, "--out", str(tmp_path))
    assert mixed.exit_code == 0, mixed.stderr
    assert "word2vec" in mixed.stdout and "glove" in mixed.stdout and "null" not in mixed.stdout


def test_a_mixed_comparison_has_a_legend_even_when_the_title_names_every_curve(tmp_path, monkeypatch):
    """The labels of runs of three experiments are the experiments' names, which the title also
    gives: the legend was dropped, leaving three lines nobody could tell apart."""
    runs = [str(_fake_embedding_run(tmp_path, name, name, EPOCHS, [0.1, 0.2], 0.05))
            for name in ("word2vec", "fasttext", "glove")]
    drawn = []
    monkeypatch.setattr(plotting, "save", lambda fig, path: drawn.append(fig))
    result = d2l("runs", "compare", *runs, "--allow-mixed", "-o", str(tmp_path / "mixed.png"), "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    (ax,) = drawn[0].axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["word2vec", "fasttext", "glove"]
    assert ax.get_title().startswith("word2vec, fasttext, glove: loss of 3 runs")
    smoothed = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert [line.get_marker() for line in smoothed] == ["o"] * 3  # few points: marked (one alone shows)
    alone = compare.figure(compare.grouped(select(runs[:1], tmp_path, EXPERIMENTS), "loss"), "loss",
                           title="word2vec: loss of 1 run\nlr=0.05")
    assert alone.axes[0].get_legend() is None  # one curve, named by the title


def test_a_trajectory_past_the_view_keeps_a_margin_so_its_markers_are_whole():
    path = [(-5.0, -2.0), (-4.5, 1.6), (-4.1, -1.3), (-0.7, 0.0)]  # sgd at lr 0.45 on the quadratic
    grid = plotting.contour_grid(lambda x1, x2: 0.1 * x1**2 + 2 * x2**2, (-5.5, 1.0, -3.0, 1.0), path)
    fig = plotting.path_on_contours(grid, path, title="t", minimum=(0.0, 0.0))
    low, high = fig.axes[0].get_ylim()
    assert (low, high) == (-3.0, pytest.approx(1.6 + plotting.PATH_MARGIN * 4.0))  # not 1.6: the marker was cut
    assert fig.axes[0].get_xlim() == (-5.5, 1.0)  # inside the view: as the surface frames it
    plotting._pyplot().close(fig)


def test_a_narrow_log_axis_has_readable_labels_and_step_axes_integer_ticks(tmp_path):
    series = [plotting.Series("a", list(range(21)), [0.5 - 0.012 * i for i in range(21)])]
    fig = plotting.curves_figure(series, xlabel="step", ylabel="loss", log_y=True, integer_x=True)
    ax = fig.axes[0]
    fig.canvas.draw()
    low, high = ax.get_ylim()
    labels = [t.get_text() for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high and t.get_text()]
    assert len(labels) >= 4 and all(float(text) > 0 for text in labels)  # plain numbers, not 3x10^-1
    assert all(float(x).is_integer() for x in ax.get_xticks())
    plotting.save(fig, tmp_path / "narrow.png")


@pytest.mark.parametrize("algo, lr, extra, expected", [
    ("momentum", "0.6", ("--momentum", "0.5"), ("lr 0.6", "momentum 0.5")),
    ("adam", "0.5", ("--beta1", "0.8"), ("lr 0.5", "beta1 0.8", "beta2 0.999", "eps 1e-06")),
])
def test_titles_carry_every_hyperparameter(tmp_path, monkeypatch, algo, lr, extra, expected):
    drawn = {}
    monkeypatch.setattr(plotting, "write_png", lambda path, name, kwargs: drawn.__setitem__(
        path.name, plotting.figure_function(name)(**kwargs)))
    result = d2l("run", "optim", "--problem", "quadratic", "--algo", algo, "--lr", lr, *extra, "--steps", "5",
                 "--quiet", "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    for name in ("trajectory.png", "loss.png"):
        title = drawn[name].axes[0].get_title()
        assert all(text in title for text in expected), title
        assert "0.1*x1^2 + 2*x2^2" in title and "(-5, -2)" in title and "5 steps" in title
    loss_axes = drawn["loss.png"].axes[0]
    assert all(float(x).is_integer() for x in loss_axes.get_xticks())


@pytest.mark.slow
def test_an_embedding_runs_own_loss_png_is_smoothed_against_epochs(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(plotting, "write_png", lambda path, name, kwargs: drawn.__setitem__(
        path.name, plotting.figure_function(name)(**kwargs)))
    corpus = write_topic_corpus(tmp_path / "topics.txt", 10, 300, 8)
    result = d2l("run", "word2vec", "--corpus", str(corpus), "--epochs", "2", "--min-count", "1", "--dim", "8",
                 "--batch-size", "64", "--device", "cpu", "--quiet", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    (run,) = (tmp_path / "out" / "word2vec").iterdir()
    with open(run / "metrics.csv", newline="") as f:
        in_epoch = [r for r in csv.DictReader(f) if not r["wordsim353_rho"]]
    ax = drawn["loss.png"].axes[0]
    raw, smooth = ax.get_lines()
    assert ax.get_xlabel() == "epoch" and list(raw.get_xdata()) == [float(r["progress"]) for r in in_epoch]
    assert raw.get_alpha() == plotting.RAW_ALPHA and list(smooth.get_ydata()) == plotting.smoothed(
        [float(r["loss"]) for r in in_epoch])
