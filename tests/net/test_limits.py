"""node.net.limits: the JSON depth bound every listening surface checks before parsing (a nesting
bomb overflowed the C stack under py_ecc's recursion limit), linear and without recursion."""
import json

import pytest

from node.net.limits import MAX_JSON_DEPTH, JSONTooDeep, json_depth_ok, loads

D = MAX_JSON_DEPTH


@pytest.mark.parametrize("text, fits", [
    ("[" * 200_000, False), ("[" * (D + 1) + "]" * (D + 1), False), ("[" * D + "]" * D, True),
    ("{\"a\":" * (D + 1) + "1" + "}" * (D + 1), False),
    ('["' + "[" * 10_000 + '"]', True),  # brackets inside a string do not nest
    ('["\\"' + "[" * 10_000 + '"]', True),  # nor after an escaped quote
    ('["\\\\"' + ", [" * 200 + "]" * 200 + "]", False),  # an escaped backslash ends no string
    ("[[]," * 10_000 + "[]" + "]" * 10_000, False), ("[[]]," * 10_000, True),
    ("[]" * 3_000_000 + "[" * (D + 1), False),  # past the first slice of the scan
])
def test_depth_bound(text, fits):
    assert json_depth_ok(text) is fits
    assert json_depth_ok(text.encode()) is fits
    if fits:
        try:
            json.loads(text)
        except ValueError:
            pass  # not JSON: refused by the parser either way


def test_loads_refuses_what_is_too_deep_and_parses_the_rest():
    assert loads(b'{"messages": [{"role": "user", "content": "[[[["}]}') == \
        {"messages": [{"role": "user", "content": "[[[["}]}
    with pytest.raises(JSONTooDeep, match=f"deeper than {D} levels"):
        loads("[" * 400_000)
