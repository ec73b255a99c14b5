"""The value helpers parsers share (`secai/ingest/parsers/_values.py`): each name says what a
value of the wrong kind becomes."""

import pytest

from secai.ingest.parsers._values import (
    PURL_ECOSYSTEMS,
    cvss_score,
    dict_or_empty,
    list_or_empty,
    list_or_error,
    positive_int,
    repo_relative,
    str_or_error,
    str_or_none,
    str_unstripped_or_none,
    xml_local_name,
)


@pytest.mark.parametrize(
    "value, expected",
    [
        (" a b ", "a b"),
        ("", None),
        ("   ", None),
        (None, None),
        (3, "3"),
        (1.5, "1.5"),
        (True, None),
        (False, None),
        ({"a": 1}, None),
        (["a"], None),
    ],
)
def test_str_or_none(value, expected):
    assert str_or_none(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("  s3cret ", "  s3cret "),
        (" \t", None),
        ("", None),
        (None, None),
        (42, "42"),
        (True, None),
        ({"a": 1}, None),
        (["a"], None),
    ],
)
def test_str_unstripped_or_none_keeps_surrounding_spaces(value, expected):
    assert str_unstripped_or_none(value) == expected


def test_str_or_error_names_the_field():
    assert str_or_error(" x ", "desc") == "x"
    assert str_or_error(None, "desc") is None and str_or_error(7, "desc") == "7"
    for bad in ({"a": 1}, ["a"]):
        with pytest.raises(ValueError, match="'desc' is not text"):
            str_or_error(bad, "desc")


@pytest.mark.parametrize(
    "value, expected",
    [(12, 12), ("12", 12), (" 7 ", 7), (0, None), (-3, None), ("-3", None), ("x", None), (True, None)]
    + [(1.0, None), (None, None), ("²", None), ([1], None)],
)
def test_positive_int(value, expected):
    assert positive_int(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [(9.8, 9.8), ("7.5", 7.5), (0, 0.0), (10, 10.0), (10.1, None), (-1, None), ("high", None)]
    + [(True, None), (None, None), ([9.8], None)],
)
def test_cvss_score(value, expected):
    assert cvss_score(value) == expected


def test_container_helpers():
    items, obj = [1], {"a": 1}
    assert list_or_empty(items) is items and list_or_empty(obj) == [] and list_or_empty(None) == []
    assert dict_or_empty(obj) is obj and dict_or_empty(items) == {} and dict_or_empty("x") == {}
    assert list_or_error(items, "cvss") is items and list_or_error(None, "cvss") == []
    with pytest.raises(ValueError, match="'cvss' is not a list"):
        list_or_error({"baseScore": 9}, "cvss")


def test_xml_local_name():
    assert xml_local_name("{https://jeremylong.github.io/DependencyCheck/dependency-check.2.5.xsd}analysis") == (
        "analysis"
    )
    assert xml_local_name("site") == "site"
    assert xml_local_name(None) == ""  # comments and processing instructions have a callable tag


@pytest.mark.parametrize(
    "raw, roots, expected",
    [
        ("file:///home/runner/work/app/app/src/a.py", [], "src/a.py"),
        ("file:///C:/a/app/app/src/a.py", [], "src/a.py"),
        ("/github/workspace/src/a.py", [], "src/a.py"),
        ("./src/a.py", [], "src/a.py"),
        ("/srv/checkout/src/a.py", ["/srv/checkout/"], "src/a.py"),
        ("/opt/other/a.py", ["/srv/checkout/"], "/opt/other/a.py"),
        ("src%20dir\\a.py", [], "src dir/a.py"),
    ],
)
def test_repo_relative(raw, roots, expected):
    assert repo_relative(raw, roots) == expected


def test_purl_ecosystems_use_osv_names():
    assert PURL_ECOSYSTEMS["pypi"] == "PyPI" and PURL_ECOSYSTEMS["golang"] == "Go"
    assert PURL_ECOSYSTEMS["cargo"] == "crates.io" and PURL_ECOSYSTEMS["deb"] == "Debian"
