"""The fast paths of loading a report give exactly what the plain ones give: JSON decoding (msgspec
first, the json module for whatever it refuses), the bytes-level JSON depth check and the nesting
count of decoded JSON."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secai.config import Limits
from secai.errors import ParseError
from secai.ingest.collect import _decode_json, _json_depth_ok, _nested_deeper, load_document

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_values = st.recursive(
    _scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=20,
)
# Texts the two decoders might read differently: non-standard literals, lone surrogates, control
# characters, BOMs, invalid UTF-8, leading zeros, duplicate keys.
_ODD = [
    b'"caf\xe9"',
    b'"\xed\xa0\x80"',
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e400",
    b'"\\ud800"',
    b'"\\udc00x"',
    b'"a\x01b"',
    b'"\t"',
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xed\xa0\x80",
    b"01",
    b"-0",
    b"1.",
    b".5",
    b'{"a":1,"a":2}',
    b"\x00",
    b",",
    b"]",
    b"}",
    b'"\\x"',
]


def _reference(body: bytes):
    """The json module alone, as ingest decoded before msgspec."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        return ("error", f"not valid UTF-8 (byte {e.start})")
    if "\x00" in text:
        return ("error", "contains NUL bytes")
    try:
        return ("ok", json.loads(text))
    except json.JSONDecodeError as e:
        return ("error", f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}")


def _ours(body: bytes):
    try:
        return ("ok", _decode_json(body, "x.json"))
    except ParseError as e:
        return ("error", e.problem)


def _same(a, b) -> bool:
    # repr tells -0.0 from 0.0 and 1 from 1.0 and keeps key order, which == does not
    return a[0] == b[0] and repr(a[1]) == repr(b[1])


@settings(max_examples=400, deadline=None)
@given(value=_values, indent=st.sampled_from([None, 1]), ascii_only=st.booleans())
def test_decoding_valid_json_matches_the_json_module(value, indent, ascii_only):
    body = json.dumps(value, indent=indent, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert _same(_ours(body), _reference(body))


@settings(max_examples=400, deadline=None)
@given(
    value=_values,
    cut=st.integers(min_value=0, max_value=200),
    odd=st.sampled_from(_ODD),
    where=st.integers(min_value=0, max_value=200),
)
def test_decoding_damaged_json_matches_the_json_module(value, cut, odd, where):
    body = json.dumps(value).encode("utf-8", "surrogatepass")
    where = min(where, len(body))
    for damaged in (body[:cut], body[:where] + odd + body[where:], b"[" + odd + b"]"):
        assert _same(_ours(damaged), _reference(damaged))


def _depth_by_lexing(data: bytes) -> int:
    """Deepest nesting of brackets outside strings, one byte at a time."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        c = chr(byte)
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


@settings(max_examples=2000, deadline=None)
@given(
    data=st.lists(
        st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b'\\"', b"\\\\", b"\\[", b"\\}", b"a", b","]), max_size=60
    ).map(b"".join),
    max_depth=st.integers(min_value=1, max_value=6),
)
def test_depth_check_matches_a_plain_lexer_on_well_formed_brackets(data, max_depth):
    if _balanced_outside_strings(data):
        assert _json_depth_ok(data, max_depth) == (_depth_by_lexing(data) <= max_depth)


def _balanced_outside_strings(data: bytes) -> bool:
    """Brackets balanced outside strings, strings closed, no escapes outside them."""
    depth, in_string, escaped = 0, False, False
    for byte in data:
        c = chr(byte)
        if in_string:
            escaped, in_string = (False, True) if escaped else (c == "\\", c != '"')
        elif c == '"':
            in_string = True
        elif c == "\\":  # only strings have escapes in JSON
            return False
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not in_string


@pytest.mark.parametrize("depth", [1, 5, 251, 252, 253, 400])
def test_depth_check_on_real_shapes(depth):
    doc = json.dumps({"runs": [{"results": []}], "note": 'a [quoted] \\" { bracket'})
    nested = ("[" * depth) + doc + ("]" * depth)
    assert _json_depth_ok(nested.encode(), 256) == (depth + 4 <= 256)  # the report itself is 4 deep


_nested = st.recursive(
    _scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=3), kids, max_size=3)),
    max_leaves=30,
)


@settings(max_examples=1000, deadline=None)
@given(value=_nested, max_depth=st.integers(min_value=0, max_value=8))
def test_nesting_of_decoded_json_matches_the_lexer(value, max_depth):
    text = json.dumps(value).encode()
    assert _nested_deeper(json.loads(text), max_depth) == (_depth_by_lexing(text) > max_depth)


@pytest.mark.parametrize("depth", [250, 260, 5000])
@pytest.mark.parametrize("tail", [b"", b",", b"\xff"])
def test_too_deep_json_is_refused_whole_or_broken(tmp_path, depth, tail):
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * depth + b"1" + tail + b"]" * depth)
    try:
        load_document(path, Limits(), "deep.json")
        problem = None
    except ParseError as e:
        problem = e.problem
    if depth > 256:
        expected = "not valid UTF-8" if tail == b"\xff" else "JSON nested deeper than 256 levels"
        assert problem is not None and problem.startswith(expected)
    else:
        assert (problem is None) == (tail == b"")
