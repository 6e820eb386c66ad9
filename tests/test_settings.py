"""The settings spine: declarative field checks name the field, the value and what was expected."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from elmo_bench.settings import (
    Check,
    SettingsError,
    check_fields,
    check_values,
    choice,
    integer,
    integers,
    number,
)


@dataclass(frozen=True)
class Example:
    size: int = integer(minimum=1)
    rate: float = number(0.5, above=0, maximum=1)
    clip: float | None = number(None, above=0, optional=True)
    kind: str = choice("a", ("a", "b"))
    steps: tuple[int, ...] = integers((), minimum=1)

    def __post_init__(self) -> None:
        check_fields(self, "example", SettingsError)


@pytest.mark.parametrize(
    "check, expected",
    [
        (Check("integer", minimum=1), "an integer >= 1"),
        (Check("number", above=0), "a number > 0"),
        (Check("number", minimum=0, below=1), "a number in [0, 1)"),
        (Check("number", above=0, maximum=1, optional=True), "a number in (0, 1] or null"),
        (Check("number", below=2.5), "a number < 2.5"),
        (Check("integer", minimum=2, why="(<S> and </S>)"), "an integer >= 2 (<S> and </S>)"),
        (Check("choice", choices=("adam", "adagrad")), "one of 'adam', 'adagrad'"),
        (Check("integers", minimum=1), "a list of integers >= 1"),
    ],
)
def test_a_check_says_what_it_expects(check, expected):
    assert check.expected() == expected


def test_good_values_pass_and_a_list_of_integers_becomes_a_tuple():
    example = Example(size=3, rate=1, clip=None, kind="b", steps=[1, 2])
    assert example.steps == (1, 2) and example.rate == 1


def test_every_bad_field_is_named_with_its_value_and_expectation():
    with pytest.raises(SettingsError) as raised:
        Example(size=True, rate=0, clip=-1.0, kind="c", steps=[0])
    assert str(raised.value) == (
        "example.size must be an integer >= 1, got True; "
        "example.rate must be a number in (0, 1], got 0; "
        "example.clip must be a number > 0 or null, got -1.0; "
        "example.kind must be one of 'a', 'b', got 'c'; "
        "example.steps must be a list of integers >= 1, got [0]"
    )
    with pytest.raises(SettingsError, match="example.size must be an integer >= 1, got None"):
        Example(size=None)


def test_values_given_as_a_dict_are_checked_as_fields_are():
    checks = {"pooling": Check("subset", choices=("max", "mean")), "layers": Check("integer", minimum=1)}
    check_values({"pooling": ["mean", "max"], "layers": 2, "unchecked": "x"}, checks, "head", SettingsError)
    for bad in (["max", "max"], [], "max", ["sum"]):
        with pytest.raises(SettingsError, match=r"^head.pooling must be a non-empty list of distinct items"):
            check_values({"pooling": bad}, checks, "head", SettingsError)
    with pytest.raises(SettingsError, match=r"head.pooling .*; head.layers must be an integer >= 1, got 0$"):
        check_values({"pooling": ["sum"], "layers": 0}, checks, "head", SettingsError)


def test_the_bilm_runs_data_and_stop_rule_are_checked_as_every_config_is():
    from elmo_bench.pretrain.bilm.corpus_source import DataSettings
    from elmo_bench.pretrain.bilm.errors import PretrainError
    from elmo_bench.pretrain.bilm.trainer import StopRule

    with pytest.raises(PretrainError, match=r"^data.held_out_fraction must be a number in \[0, 1\), got 1.0; "
                       r"data.workers must be an integer >= 1, got 0$"):
        DataSettings("corpus", held_out_fraction=1.0, workers=0)
    with pytest.raises(PretrainError, match=r"^stop.stop_after_steps must be an integer >= 1 or null, got 0; "
                       r"stop.max_minutes must be a number > 0 or null, got -1$"):
        StopRule(stop_after_steps=0, max_minutes=-1)
