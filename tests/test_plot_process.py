"""A run's figures drawn by its drawing child are the figures it would draw itself, and nothing
the child does wrong costs a figure."""

import sys

import pytest

from d2l_lab import plot_process, plotting

PATH = [(-5.0, -2.0), (-4.0, -1.0), (-3.0, -0.5)]


def _draw_both(directory):
    plotting.curve_plot(directory / "loss.png", {"adam lr=0.01": ([1, 2, 3], [3.0, 2.0, 1.5])}, xlabel="step",
                        ylabel="f(x)", log_y=True, integer_x=True, title="adam")
    plotting.trajectory_plot(directory / "trajectory.png", lambda x1, x2: 0.1 * x1**2 + 2 * x2**2, PATH,
                             (-5.5, 1.0, -3.0, 1.0), title="quadratic", minimum=(0.0, 0.0))


@pytest.fixture
def child(monkeypatch):
    monkeypatch.setattr(plot_process, "_draws_here", lambda: False)  # this test process has matplotlib
    plot_process.start()
    yield
    plot_process.stop()


def test_the_child_draws_the_same_bytes_as_the_run_would(tmp_path, child):
    (tmp_path / "child").mkdir()
    (tmp_path / "here").mkdir()
    _draw_both(tmp_path / "child")
    assert plot_process._child is not None, "the child failed, so the figures were drawn here"
    plot_process.stop()
    _draw_both(tmp_path / "here")
    for name in ("loss.png", "trajectory.png"):
        drawn = (tmp_path / "child" / name).read_bytes()
        assert drawn.startswith(b"\x89PNG") and drawn == (tmp_path / "here" / name).read_bytes()


def test_a_child_that_died_costs_no_figure(tmp_path, child):
    plot_process._child.kill()
    plot_process._child.wait()
    _draw_both(tmp_path)
    assert plot_process._child is None
    assert (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "trajectory.png").read_bytes().startswith(b"\x89PNG")


def test_a_figure_the_child_cannot_draw_raises_its_error_here(child):
    with pytest.raises(TypeError, match="unexpected keyword"):
        plot_process.render("curves", {"no such argument": 1}, plotting._render)
    assert plot_process._child is None


def test_the_child_runs_in_its_own_session_at_low_priority_and_ends_with_the_run(tmp_path, child):
    import os

    pid = plot_process._child.pid
    plotting.curve_plot(tmp_path / "loss.png", {"a": ([1, 2], [2.0, 1.0])}, xlabel="step", ylabel="loss")
    assert plot_process._child is not None and plot_process._child.pid == pid  # drawn there: it is set up
    assert os.getsid(pid) == pid != os.getsid(0), "a Ctrl-C at the terminal would reach the child"
    assert os.getpriority(os.PRIO_PROCESS, pid) >= os.getpriority(os.PRIO_PROCESS, 0) + 10 or \
        os.getpriority(os.PRIO_PROCESS, pid) == 19
    plot_process.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_only_the_d2l_process_without_matplotlib_starts_a_child(monkeypatch):
    monkeypatch.setattr(plot_process, "_enabled", False)
    assert plot_process._draws_here()  # a test's or a sweep worker's process
    monkeypatch.setattr(plot_process, "_enabled", True)
    monkeypatch.setitem(sys.modules, "matplotlib", sys.modules.get("matplotlib") or object())
    assert plot_process._draws_here()
    monkeypatch.delitem(sys.modules, "matplotlib")
    assert not plot_process._draws_here()


def test_importing_plotting_does_not_import_matplotlib():
    import subprocess

    code = "import sys, d2l_lab.plotting; print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def _draw_the_range_test(directory):
    from d2l_lab.experiments.optim import figures

    figures.range_test_plot(directory / "lr_find.png", [1e-3, 1e-2, 1e-1, 1.0], [3.0, 2.0, 1.0, 9.0],
                            [3.0, 2.5, 1.8, 4.0], 1e-2, title="range test")


def test_the_range_test_goes_through_the_child_and_is_the_same_bytes(tmp_path, child, monkeypatch):
    (tmp_path / "child").mkdir()
    (tmp_path / "here").mkdir()
    with monkeypatch.context() as patched:  # the run drawing a figure itself would raise here
        patched.setattr(plotting, "_render", lambda name, kwargs: pytest.fail(f"{name} drawn in the run"))
        _draw_the_range_test(tmp_path / "child")
    plot_process.stop()
    _draw_the_range_test(tmp_path / "here")
    drawn = (tmp_path / "child" / "lr_find.png").read_bytes()
    assert drawn.startswith(b"\x89PNG") and drawn == (tmp_path / "here" / "lr_find.png").read_bytes()


@pytest.mark.slow
def test_a_quadratic_runs_convergence_png_is_the_same_drawn_by_the_child(tmp_path, child, monkeypatch):
    from .conftest import d2l, only_run_dir

    args = ("run", "optim", "--preset", "quadratic-momentum", "--quiet")
    with monkeypatch.context() as patched:
        patched.setattr(plotting, "_render", lambda name, kwargs: pytest.fail(f"{name} drawn in the run"))
        assert d2l(*args, "--out", str(tmp_path / "child")).exit_code == 0
    assert plot_process._child is not None
    plot_process.stop()
    monkeypatch.setattr(plot_process, "_enabled", False)
    assert d2l(*args, "--out", str(tmp_path / "here")).exit_code == 0
    drawn = (only_run_dir(tmp_path / "child" / "optim") / "convergence.png").read_bytes()
    here = (only_run_dir(tmp_path / "here" / "optim") / "convergence.png").read_bytes()
    assert drawn.startswith(b"\x89PNG") and drawn == here


def test_a_figure_outside_d2l_lab_is_refused():
    with pytest.raises(ValueError, match="unknown figure 'os:system'"):
        plotting.figure_function("os:system")
