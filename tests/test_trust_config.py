"""Issue 23 ("Trust, round two"), the configs: numbers are decimal YAML numbers (`0x10`, `010`, `1:30`
are refused, naming the key), and null is refused wherever a field does not say what it means."""

from __future__ import annotations

import dataclasses
import re
import typing

import pytest

from d2l_lab.config.schema import from_dict
from d2l_lab.errors import UserError
from d2l_lab.experiments.registry import EXPERIMENTS

from .conftest import d2l
from .test_trust_inputs import _one_error_line


# -- 3. numbers are decimal --------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "written"), [
    ("0x10", "hexadecimal"), ("-0x1F", "hexadecimal"), ("0b11", "binary"), ("010", "octal"), ("0o10", "octal"),
    ("1:30", "base 60"), ("00", "octal"),
])
def test_a_number_not_written_in_decimal_is_refused_naming_its_key(tmp_path, value, written):
    line = _one_error_line(d2l("run", "optim", "--set", f"seed={value}", "--print-config"))
    assert f"config key 'seed' must be a decimal number, got '{value}'" in line and written in line, line


@pytest.mark.parametrize(("key", "value"), [("optimizer.lr", "0x1"), ("optimizer.lr", "1:30.5"),
                                            ("train.epochs", "0b101")])
def test_a_number_not_written_in_decimal_is_refused_in_a_config_file_too(tmp_path, key, value):
    section, field = key.split(".")
    (tmp_path / "c.yaml").write_text(f"{section}:\n  {field}: {value}\n")
    line = _one_error_line(d2l("run", "optim", "--config", str(tmp_path / "c.yaml"), "--print-config"))
    assert f"config key '{key}' must be a decimal number, got '{value}'" in line, line


@pytest.mark.parametrize(("key", "digits", "message"), [
    ("seed", 5000, "must be a number of magnitude below 2\\*\\*63"),       # Python converts at most 4,300 digits
    ("optimizer.lr", 5000, "must be a number of magnitude below 2\\*\\*63"),
    ("optimizer.lr", 500, "must be a finite number"),                     # an int beyond every float
])
def test_a_number_with_more_digits_than_python_converts_is_one_line(key, digits, message):
    line = _one_error_line(d2l("run", "optim", "--set", f"{key}={'9' * digits}", "--print-config"))
    assert re.search(f"config key '{key}' {message}", line) and len(line) < 300, line


def test_decimal_numbers_still_read_and_non_decimal_text_stays_text_where_text_is_wanted(tmp_path):
    result = d2l("run", "optim", "--set", "seed=1_000", "--set", "optimizer.lr=+0.5", "--set", "train.epochs=7",
                 "--print-config")
    assert result.exit_code == 0, result.output
    assert "seed: 1000" in result.stdout and "lr: 0.5" in result.stdout and "epochs: 7" in result.stdout
    result = d2l("run", "word2vec", "--set", "word2vec.probe_words=[0x10, '011']", "--print-config")
    assert result.exit_code == 0, result.output
    assert "probe_words: ['0x10', '011']" in result.stdout  # quoted: read back as text


# -- 3. null: refused, or documented -----------------------------------------------------------------------

def _fields(cls: type, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        yield prefix + field.name, field, hints[field.name], cls
        if dataclasses.is_dataclass(hints[field.name]):
            yield from _fields(hints[field.name], f"{prefix}{field.name}.")


@pytest.mark.parametrize("experiment", list(EXPERIMENTS))
def test_every_field_refuses_null_or_says_what_it_means(experiment):
    """Systematic: a field whose type admits None documents what null means in its help (`param(...,
    null=...)`); every other field, sections included, refuses null in one line naming it."""
    config_class = EXPERIMENTS[experiment].config_class
    wrong = []
    for key, field, hint, _ in _fields(config_class):
        data: dict = {}
        node = data
        *sections, last = key.split(".")
        for section in sections:
            node = node.setdefault(section, {})
        node[last] = None
        if type(None) in typing.get_args(hint):
            meaning = field.metadata.get("null")
            if not meaning or f"null: {meaning}" not in field.metadata["help"]:
                wrong.append(f"{key}: admits null, its help does not say what it means")
            from_dict(config_class, data)
            continue
        try:
            from_dict(config_class, data)
            wrong.append(f"{key}: null accepted")
        except UserError as exc:
            if not re.search(rf"config (key|section) '{re.escape(key)}' .*null", str(exc)):
                wrong.append(f"{key}: {exc}")
    assert not wrong, "\n".join(wrong)


def test_null_for_a_setting_that_needs_a_value_is_one_line_naming_the_key():
    line = _one_error_line(d2l("run", "word2vec", "--set", "word2vec.dim=null", "--print-config"))
    assert "config key 'word2vec.dim' needs a value, got null" in line, line
    line = _one_error_line(d2l("run", "word2vec", "--set", "word2vec=null", "--print-config"))
    assert "config section 'word2vec'" in line and "null" in line, line
