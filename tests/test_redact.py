import re
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from secai.findings import Category, Finding, Instance, Location, Severity
from secai.ingest.redact import (
    _ASCII_FOLDS,
    _ASSIGN_RE,
    _STAND_INS,
    _TOKEN_PATTERNS,
    _TOKEN_RE,
    Redactor,
    _redact,
    _suspects,
    redact_finding,
    redact_text,
    redaction_marker,
)
from secai.log import mask_tokens

GH = "ghp_" + "A1b2C3d4E5" * 4
AWS = "AKIA" + "IOSFODNN7EXAMPLE"


def test_token_formats_and_assignments_are_redacted():
    text = f"token {GH} aws {AWS} password: 'sup3rsecret!' hf_{'x' * 34}"
    out = redact_text(text)
    assert GH not in out and AWS not in out and "sup3rsecret!" not in out and "hf_xxx" not in out
    assert redaction_marker(GH) in out
    # Idempotent: redacting twice changes nothing.
    assert redact_text(out) == out


def test_known_environment_tokens_are_masked(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "plain-looking-value-123")
    assert "plain-looking-value-123" not in redact_text("x plain-looking-value-123 y")
    assert mask_tokens("auth plain-looking-value-123") == "auth ***"


def test_finding_fields_and_reported_secret_values():
    f = Finding(
        tool="gitleaks",
        rule_id="generic",
        title="t",
        severity=Severity.high,
        category=Category.secret,
        message="found s3cr3t-value-42 here",
        location=Location(path="a.env", start_line=1, snippet="KEY=s3cr3t-value-42"),
        instances=[Instance(url="https://x/?k=s3cr3t-value-42", evidence="s3cr3t-value-42")],
        extra={"match": "KEY=s3cr3t-value-42"},
    )
    redact_finding(f, ["s3cr3t-value-42"])
    assert "s3cr3t-value-42" not in f.model_dump_json()


def test_identifiers_that_merely_contain_a_keyword_are_not_secrets():
    code = "model, tokenizer = load('base')\nkeyboard = layout_name_here"
    assert redact_text(code) == code
    assert "hunter2hunter2" not in redact_text("db_password = hunter2hunter2")
    assert "abcdef123456" not in redact_text("GITHUB_TOKEN: abcdef123456")


_FRAGMENTS = [
    "password",
    "PWD",
    "Secrets",
    "token",
    "api_key",
    "access.key",
    "client-secret",
    "key",
    "Pass",
    "_x",
    "-z",
    "=",
    ":",
    " ",
    "\t",
    "\n",
    "\x1c",
    "'",
    '"',
    "`",
    ",",
    ";",
    "abcdef",
    "hunter22",
    "ab",
    "[REDACTED:0123456789ab]",
    "ghp_" + "a" * 36,
    "AKIA" + "B" * 16,
    "-----BEGIN RSA PRIVATE KEY-----",
    "tokenizer",
    "x",
    "]",
    "keyboard=qwerty",
]


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.lists(st.sampled_from(_FRAGMENTS), max_size=8).map("".join), min_size=1, max_size=12),
    secrets=st.sampled_from([(), ("hunter22",)]),
    fillers=st.integers(min_value=0, max_value=8),
)
def test_prefiltered_redaction_equals_plain_redaction_on_assignments_and_tokens(texts, secrets, fillers):
    """The joined RE2 scan sorts texts into clean / assignment only / anything: same results as
    redacting each text alone."""
    r = Redactor(secrets)
    r.prefilter(texts + [f"filler {i}" for i in range(fillers)])
    assert [r.text(t) for t in texts] == [_redact(t, r.secrets) for t in texts]


def test_ascii_stand_ins_are_of_the_same_class_for_every_character():
    """What `_ascii_stand_ins` relies on: Python's `\\w` and `\\s` are `str.isalnum` (or `_`) and
    `str.isspace`, and `_ASCII_FOLDS` are all the non-ASCII characters that match an ASCII letter
    case-insensitively."""
    every = "".join(map(chr, range(0x80, 0x110000)))
    assert set(re.findall(r"\w", every)) == {c for c in every if c.isalnum()}
    assert set(re.findall(r"\s", every)) == {c for c in every if c.isspace()}
    folds = {c: letter for letter in string.ascii_lowercase for c in re.findall(letter, every, re.IGNORECASE)}
    assert folds == _ASCII_FOLDS
    assert len(every.encode("ascii", _STAND_INS)) == len(every)


_UNICODE = [
    "\u017f",
    "\u212a",
    "\u0130",
    "\u0131",
    "\u00a0",
    "\u2028",
    "\u3000",
    "\u0085",
    "\u1680",
    "\u00e9",
    "\u4e2d",
    "\u0663",
    "\u2026",
    "\u2019",
    "\u201c",
    "\u2010",
    "\ud800",
    "\U0001f600",
    "\u00df",
    "\u03a3",
]
_NON_ASCII_TEXTS = st.lists(st.one_of(st.sampled_from(_FRAGMENTS + _UNICODE), st.text(max_size=4)), max_size=10).map(
    "".join
)


@settings(max_examples=500, deadline=None)
@given(texts=st.lists(_NON_ASCII_TEXTS, min_size=1, max_size=12))
def test_prefilter_of_non_ascii_texts_only_skips_texts_with_nothing_to_redact(texts):
    """Case folding ('paſsword', 'apiKey' with a Kelvin sign, 'İ'), Unicode spaces and word
    characters: a text the RE2 scan passes as clean is one that `_redact` leaves alone, and the
    results equal plain redaction."""
    r = Redactor()
    r.prefilter(texts + [f"filler {i}" for i in range(8)])
    for t in texts:
        if t in r._clean:
            assert _redact(t, r.secrets) == t
    assert [r.text(t) for t in texts] == [_redact(t, r.secrets) for t in texts]


def test_prefilter_flags_assignments_and_tokens_spelled_with_non_ascii_characters():
    texts = [
        "pa\u017fsword\u00a0=\u3000hunter2!",
        "api\u212aey:\u2028abcdef123456",
        "SECRET=\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9",
        "access_key_\u00e9t\u00e9 = abcdef123",
        "\u201c" + GH + "\u201d",
        "caf\u00e9 tokenizer \u2026",
        "kelvin \u212a token",
    ]
    r = Redactor()
    r.prefilter(texts + [f"filler {i}" for i in range(8)])
    assert [t in r._clean for t in texts] == [False, False, False, False, False, True, True]
    assert [r.text(t) != t for t in texts] == [True, True, True, True, True, False, False]


_ONE_TOKEN_OF_EACH_FORMAT = [
    GH,
    "github_pat_" + "a1_" * 15,
    "hf_" + "x" * 34,
    AWS,
    "xoxb-" + "1" * 12,
    "sk-proj-" + "a" * 25,
    "sk_live_" + "a" * 24,
    "rk_live_" + "a" * 24,
    "AIza" + "a" * 35,
    "glpat-" + "a" * 22,
    "npm_" + "a" * 36,
    "pypi-AgEIcHlwaS5vcmc" + "a" * 60,
    "SG." + "a" * 22 + "." + "b" * 43,
    "eyJ" + "a" * 12 + ".eyJ" + "b" * 12 + "." + "c" * 12,
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----",
]


def test_prefilter_flags_every_token_format_and_assignments_inside_longer_names():
    """The RE2 prefilters are cut to what makes a match certain (shortest token, an assignment from
    its keyword on): they still flag every text the exact patterns match."""
    assert len(_ONE_TOKEN_OF_EACH_FORMAT) == len(_TOKEN_PATTERNS)
    for token in _ONE_TOKEN_OF_EACH_FORMAT:
        text = f"see ({token}) here"
        assert _TOKEN_RE.search(text) is not None
        assert _suspects(["clean text", text, "more"]) == ({1}, {1})
    for text in ["x.db_password = 'hunter2hunter2'", "MY_API-KEY_FILE:\tabcdef", "client.secret.v2=" + "z" * 300]:
        assert _ASSIGN_RE.search(text) is not None
        assert _suspects(["clean text", text]) == (set(), {1})
