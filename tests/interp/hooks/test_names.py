import pytest

from interp.core.errors import InterpError
from interp.hooks.names import parse_layers


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("all", [0, 1, 2, 3, 4]),
        ("0,2", [0, 2]),
        ("1-3", [1, 2, 3]),
        ("0, 3-4", [0, 3, 4]),
        (-1, [4]),
        (range(1, 3), [1, 2]),
        ([4, 0, 0], [0, 4]),
    ],
)
def test_parse_layers(spec, expected):
    assert parse_layers(spec, 5) == expected


@pytest.mark.parametrize(
    "spec, msg", [("5", "out of range"), ("3-1", "empty"), ("a", "cannot read"), ([], "no layers")]
)
def test_parse_layers_errors(spec, msg):
    with pytest.raises(InterpError, match=msg):
        parse_layers(spec, 5)
