"""Markdown escaping of untrusted text."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from secai.report.escape import ZWJ, html_inline, md_block, md_code, md_inline, md_link

PING = re.compile(r"(?<![A-Za-z0-9_\u200d])@[A-Za-z0-9]")
HOSTILE = "<script>alert(1)</script> cc @org/team and @alice #12 <!-- secai-report --> **bold** [x](javascript:y)"


def test_inline_neutralises_html_mentions_refs_and_markers():
    out = md_inline(HOSTILE)
    assert "<" not in out and "<!--" not in out and "&lt;script&gt;" in out
    assert not PING.search(out) and f"@{ZWJ}org/team" in out and f"@{ZWJ}alice" in out
    assert f"#{ZWJ}12" in out
    assert "\\*\\*bold\\*\\*" in out and "\\[x\\]\\(javascript\\:y\\)" in out


def test_block_keeps_paragraphs_but_no_layout_markdown():
    out = md_block("# Title\n\n- item\n1. one\n| a | b |\n```\ncode\n```\n> quote\n---")
    assert out.startswith("\\# Title\n\n")
    for line in out.splitlines():
        assert not re.match(r"\s*([#>|`]|-\s|\d+\.\s|---)", line), line


def test_emails_and_versions_are_not_mangled_but_mentions_are():
    assert md_inline("pkg@1.2.3 a@b.c") == "pkg@1\\.2\\.3 a@b\\.c"
    assert md_inline("(@team)") == f"\\(@{ZWJ}team\\)"


def test_code_spans_cannot_be_broken_out_of():
    out = md_code("a ``b`` c")
    assert out.startswith("```") and out.endswith("```") and "a ``b`` c" in out
    assert md_code("`x`") == "`` `x` ``"
    assert "<!--" not in md_code("<!-- secai-report -->")
    assert md_code("a|b", in_table=True) == "`a\\|b`"


def test_html_inline_for_summary_elements():
    out = html_inline(HOSTILE)
    assert "<" not in out and not PING.search(out) and "\\" not in out


def test_bidi_and_control_characters_are_dropped():
    assert md_inline("safe\u202eevil\x00x") == "safeevil x"


def test_links_only_for_plain_http_urls():
    assert md_link("model", "https://huggingface.co/a/b") == "[model](https://huggingface.co/a/b)"
    assert md_link("x", "javascript:alert(1)") == "x (`javascript:alert(1)`)"
    assert md_link("x", "https://a/b) [evil](https://c").startswith("x (`")


def test_truncation():
    out = md_inline("x" * 1000, 50)
    assert len(out) == 50 and out.endswith("…")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(list("<>!-@#`*_[]()|\\&;: \nabcZ09/") + ["<!--", "-->", "@org/team"]), max_size=40).map(
        "".join
    )
)
def test_no_html_and_no_pings_for_any_input(text):
    for out in (md_inline(text), md_block(text), html_inline(text)):
        assert "<" not in out
        assert not PING.search(out)
    code = md_code(text)
    assert "<!--" not in code and "\n" not in code


def test_gh_references_are_defanged_before_dashes_are_escaped():
    """`GH-123` autolinks an issue; the escaper turned it into `GH\\-123` before looking for it, so
    it was never defanged (issue 16, Low)."""
    for text in ("see GH-123", "gh-7 fixed", "GH-1, GH-22"):
        for out in (md_inline(text), md_block(text)):
            assert not re.search(r"(?i)GH\\?-\d", out), out
            assert "\u200d" in out
