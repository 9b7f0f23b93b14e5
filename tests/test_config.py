"""Config composition and validation: precedence, and one clear UserError per mistake."""

from __future__ import annotations

import pytest

from d2l_lab.config.keys import all_keys, short_name, short_names
from d2l_lab.config.loading import compose, dump_yaml, parse_set, read_yaml
from d2l_lab.config.schema import from_dict
from d2l_lab.errors import UserError
from d2l_lab.experiments.optim.config import OptimRunConfig


def make(**kwargs):
    return compose(OptimRunConfig, "optim", **kwargs)


def test_defaults_are_resolved_to_concrete_numbers():
    config = make()
    assert config.problem.name == "airfoil"
    assert (config.optimizer.algo, config.optimizer.lr) == ("sgd", 0.05)  # the book's minibatch SGD
    assert "lr: null" not in dump_yaml(config)


def test_precedence_defaults_preset_flags_sets():
    config = make(preset="adam")
    assert (config.optimizer.algo, config.optimizer.lr) == ("adam", 0.01)
    config = make(preset="adam", flags={"optimizer.lr": 0.05, "train.epochs": None})
    assert config.optimizer.lr == 0.05 and config.train.epochs == 2
    config = make(preset="adam", flags={"optimizer.lr": 0.05}, sets=["optimizer.lr=0.2", "train.epochs=3"])
    assert config.optimizer.lr == 0.2 and config.train.epochs == 3


def test_config_file_round_trips(tmp_path):
    original = make(preset="rmsprop", sets=["seed=7", "problem.dtype=float32"])
    path = tmp_path / "config.yaml"
    path.write_text(dump_yaml(original))
    assert make(config_file=path) == original


def test_set_values_are_yaml_scalars():
    assert parse_set("optimizer.lr=0.001") == ("optimizer.lr", 0.001)
    assert make(sets=["optimizer.lr=1e-3", "optimizer.eps=1E-8"], flags={"optimizer.algo": "adam"}).optimizer.lr == 1e-3
    assert parse_set("problem.start=[1, 2]") == ("problem.start", [1, 2])
    with pytest.raises(UserError, match="key=value"):
        parse_set("optimizer.lr")


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["optimizer.lrr=0.1"], "unknown config key 'optimizer.lrr': did you mean 'optimizer.lr'"),
        (["lr=0.1"], "unknown config key 'lr': did you mean 'optimizer.lr'"),
        (["batch-size=10"], "unknown config key 'batch-size': did you mean 'train.batch_size'"),
        (["optimizer.lr=-0.1"], "'optimizer.lr' must be > 0, got -0.1"),
        (["optimizer.lr=abc"], "'optimizer.lr' must be a number, got 'abc'"),
        (["optimizer.lr=.nan"], "'optimizer.lr' must be a finite number"),
        (["optimizer.momentum=1.0"], "'optimizer.momentum' must be >= 0 and < 1"),
        (["train.batch_size=0"], "'train.batch_size' must be >= 1, got 0"),
        (["train.batch_size=2.5"], "'train.batch_size' must be a whole number"),
        (["train.epochs=true"], "'train.epochs' must be a whole number"),
        (["optimizer.algo=adamm"], "must be one of .*did you mean 'adam'"),
        (["problem.start=[1, 2, 3]"], "'problem.start' must have 2 items"),
        (["optimizer=3"], "config section 'optimizer' must be a mapping"),
        (["device=gpu"], "'device' must be auto, cpu, cuda, cuda:N or mps"),
        (["train.batch_size=2000"], "'train.batch_size' is 2000 but the data has only 1500"),
    ],
)
def test_bad_values_name_key_value_and_fix(sets, message):
    with pytest.raises(UserError, match=message):
        make(sets=sets)


def test_yaml_problems_are_user_errors(tmp_path):
    malformed = tmp_path / "bad.yaml"
    malformed.write_text("optimizer:\n  lr: [0.1\n")
    with pytest.raises(UserError, match="malformed YAML .* line"):
        read_yaml(malformed)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="mapping of key: value at the top level"):
        read_yaml(listed)
    tagged = tmp_path / "tag.yaml"
    tagged.write_text("seed: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(UserError, match="malformed YAML"):
        read_yaml(tagged)
    with pytest.raises(UserError, match="does not exist"):
        read_yaml(tmp_path / "missing.yaml")


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(UserError, match="unknown preset 'adamm'.*adam"):
        make(preset="adamm")


def test_a_list_where_a_section_belongs_is_refused():
    assert {"optimizer.lr", "train.batch_size", "problem.name"} <= set(all_keys(OptimRunConfig))
    with pytest.raises(UserError, match="config section 'problem' must be a mapping of key: value, got a list"):
        from_dict(OptimRunConfig, {"problem": ["airfoil"]})


def test_one_short_name_scheme_for_flags_grid_keys_columns_and_suggestions():
    keys = ("train.batch_size", "optimizer.lr", "optimizer.algo", "problem.name", "schedule.name", "seed")
    assert [short_name(k) for k in keys] == ["batch-size", "lr", "algo", "problem", "schedule", "seed"]
    names = short_names(OptimRunConfig)
    assert all(names[short_name(k)] == k for k in keys)
    assert all(short_name(key) == name for name, key in names.items())  # a short name stands for one key


def test_embedding_presets_change_what_they_say_and_nothing_else():
    """`--preset glove-paper` is the paper's training (window 10, x_max 100, lr 0.05, 50
    iterations); word2vec's `similarity` only lightens subsampling and the rate."""
    from d2l_lab.config.schema import to_dict
    from d2l_lab.experiments.glove import GloveRunConfig
    from d2l_lab.experiments.word2vec import Word2VecRunConfig

    def changed(config_class, experiment, preset):
        default, chosen = (to_dict(compose(config_class, experiment, preset=p))[experiment] for p in (None, preset))
        return {k: v for k, v in chosen.items() if default.get(k) != v}, chosen

    paper_changes, paper = changed(GloveRunConfig, "glove", "glove-paper")
    assert {k: paper[k] for k in ("window", "x_max", "alpha", "lr", "epochs")} == {
        "window": 10, "x_max": 100.0, "alpha": 0.75, "lr": 0.05, "epochs": 50}
    assert set(paper_changes) <= {"window", "x_max", "alpha", "lr", "epochs"}
    assert changed(Word2VecRunConfig, "word2vec", "similarity")[0] == {"subsample": 1e-3, "lr": 0.035}
