"""The one parameter validator: its checks and their error style, and list parameters as papermill passes them."""
import pytest

from lab import validate


@pytest.mark.parametrize("call, message", [
    (lambda: validate.integer("epochs", 0, 1), "epochs: must be an integer >= 1, got 0"),
    (lambda: validate.integer("epochs", True, 1), "epochs: must be an integer >= 1, got True"),
    (lambda: validate.integer("limit", 1.0, 1, none=True), "limit: must be an integer >= 1 or None, got 1.0"),
    (lambda: validate.number("width", 0, 0, 4, strict=True), "width: must be a number in (0, 4], got 0"),
    (lambda: validate.number("width", 5, 0, 4, strict=True), "width: must be a number in (0, 4], got 5"),
    (lambda: validate.number("min_seconds", -1), "min_seconds: must be a number >= 0, got -1"),
    (lambda: validate.number("tol", "0.1", 0, 0.5), "tol: must be a number in [0, 0.5], got '0.1'"),
    (lambda: validate.choice("split", "test", ("train", "validation")),
     "split: must be one of ('train', 'validation'), got 'test'"),
    (lambda: validate.choices("models", "resnet,xnornet", ("xnornet",)),
     "models: must be a non-empty list of ('xnornet',), got ['resnet', 'xnornet']"),
    (lambda: validate.choices("models", [], ("xnornet",)), "models: must be a non-empty list of ('xnornet',), got []"),
    (lambda: validate.known_keys("edge", {"runs": 1, "input": 2}, ("runs",)),
     "edge: unknown keys ['input']; choose from ('runs',)"),
    (lambda: validate.as_dict("[1, 2]", "overrides"),
     "overrides: must be a mapping (a dict or a JSON/YAML mapping string), got [1, 2]"),
])
def test_every_check_names_the_parameter_and_what_it_may_be(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value) == message


def test_checks_return_good_values_as_given():
    assert validate.integer("epochs", 3, 1) == 3 and validate.integer("limit", None, 1, none=True) is None
    assert validate.number("width", 0.5, 0, 4, strict=True) == 0.5
    assert validate.choices("models", "xnornet", ("xnornet",)) == ["xnornet"]
    assert validate.as_dict("{epochs: 2, width: 0.5}", "overrides") == {"epochs": 2, "width": 0.5}
    assert validate.as_dict(None, "overrides") == {} and validate.as_dict({"a": 1}, "overrides") == {"a": 1}


@pytest.mark.parametrize("value, expected", [
    (["0000", "1111"], ["0000", "1111"]), (("sign", "lab"), ["sign", "lab"]), (None, []), ("", []),
    ('["0000", "1111"]', ["0000", "1111"]),  # papermill -p masks '["0000", "1111"]'
    ("['sign', 'lab']", ["sign", "lab"]), ("[]", []), ("birealnet, quicknet", ["birealnet", "quicknet"]),
    ("birealnet", ["birealnet"]),
])
def test_as_list_reads_what_papermill_gives(value, expected):
    assert validate.as_list(value, "masks") == expected


@pytest.mark.parametrize("value", [1011, {"a": 1}, '["0000", "1111"'])
def test_as_list_rejects_other_values_naming_the_parameter(value):
    with pytest.raises(ValueError, match="^masks: "):
        validate.as_list(value, "masks")
