import ast
import json
import unicodedata
from pathlib import Path

import re2
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from redact_reference import reference_redact

from secai.findings import Category, Finding, Instance, Location, Package, Severity
from secai.ingest import redact
from secai.ingest.collect import collect
from secai.ingest.redact import (
    ASSIGNMENT_PATTERN,
    SECRET_KEY_NAMES,
    TOKEN_PATTERNS,
    Redactor,
    key_name_pattern,
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


def _comparable(text: str) -> bool:
    """Texts on which RE2 and Python's `re` agree by definition: RE2's Unicode tables are newer
    than Python 3.11's (letters Python does not know yet), and Unicode case folding does not fold
    'İ' and 'ı' to 'i' as Python's IGNORECASE does."""
    return not any(c in "\u0130\u0131" or unicodedata.category(c) == "Cn" for c in text)


@settings(max_examples=400, deadline=None)
@given(text=st.lists(st.sampled_from(_FRAGMENTS), max_size=10).map("".join))
def test_redaction_equals_the_backtracking_reference_on_assignments_and_tokens(text):
    """The RE2 patterns redact exactly what the patterns written for Python's `re` redacted."""
    assert redact_text(text) == reference_redact(text)


@settings(max_examples=400, deadline=None)
@given(text=_NON_ASCII_TEXTS)
def test_redaction_equals_the_backtracking_reference_on_non_ascii_text(text):
    """Case folding ('paſsword', 'apiKey' with a Kelvin sign), Unicode spaces and word characters,
    lone surrogates."""
    assume(_comparable(text))
    assert redact_text(text) == reference_redact(text)


def test_assignments_and_tokens_spelled_with_non_ascii_characters():
    texts = [
        "pa\u017fsword\u00a0=\u3000hunter2!",
        "api\u212aey:\u2028abcdef123456",
        "SECRET=\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9",
        "access_key_\u00e9t\u00e9 = abcdef123",
        "\u201c" + GH + "\u201d",
        "caf\u00e9 tokenizer \u2026",
        "kelvin \u212a token",
        "lone \ud800 surrogate token=abc\ud800def",
    ]
    assert [redact_text(t) != t for t in texts] == [True, True, True, True, True, False, False, True]
    assert [redact_text(t) for t in texts] == [reference_redact(t) for t in texts]


def test_every_secret_key_name_is_in_the_plain_path_and_in_the_prefilter():
    """One tuple of key names builds both: an assignment to any of them, inside a longer name, is
    redacted, and the one-search check that decides whether a text needs redaction finds it."""
    assert len(set(SECRET_KEY_NAMES)) == len(SECRET_KEY_NAMES)
    for name in SECRET_KEY_NAMES:
        for spelled in {name, name.replace("_", "-"), name.replace("_", ""), name.upper()}:
            text = f"x.my_{spelled}_file = abcdef123"
            assert key_name_pattern(name) in ASSIGNMENT_PATTERN
            assert key_name_pattern(name) in redact._ANY.pattern.decode()
            assert redact._ANY.search(text.encode()) is not None, text
            assert redact._ASSIGNMENT.search(text.encode()) is not None, text
            assert redact_text(text) == f"x.my_{spelled}_file = {redaction_marker('abcdef123')}"
    assert len(_ONE_TOKEN_OF_EACH_FORMAT) == len(TOKEN_PATTERNS)
    for token in _ONE_TOKEN_OF_EACH_FORMAT:
        assert redact_text(f"see ({token}) here") == f"see ({redaction_marker(token)}) here"
        assert redact._ANY.search(f"see ({token}) here".encode()) is not None


def test_a_redactor_returns_clean_text_itself_and_remembers_results():
    r = Redactor(["s3cr3t-value"])
    clean, dirty = "nothing " * 3, "x s3cr3t-value y"
    assert r.text(clean) is clean
    assert r.text(dirty) == f"x {redaction_marker('s3cr3t-value')} y" and r.text(dirty) is r.text(dirty)


def test_every_pattern_runs_on_re2():
    """Linear time whatever the text (issue 16.4): every compiled pattern of the redaction layer is
    an RE2 pattern, and the module compiles nothing with Python's backtracking `re`."""
    compiled = [v for v in vars(redact).values() if hasattr(v, "search") and hasattr(v, "pattern")]
    assert compiled and all(isinstance(p, re2._Regexp) for p in compiled)
    tree = ast.parse(Path(redact.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert "re" not in imported


def test_a_megabyte_of_adversarial_text_is_redacted():
    """The shape that made the backtracking pattern cubic (`pwd.` repeated in one long name, then
    `x=` and no value; 2 KB of it took 10 s) next to one real assignment: the secret goes, the
    rest stays. Timings: bench/redact.py."""
    stall = "pwd." * (1 << 18) + "x="
    text = stall + " x\npassword_" * 3 + "= hunter2hunter2 " + "a" * (1 << 19)
    out = redact_text(text)
    assert out.startswith(stall) and "hunter2hunter2" not in out
    assert out.endswith(redaction_marker("hunter2hunter2") + " " + "a" * (1 << 19))


_SECRET_URI = "src/" + GH + "/app.py"


def test_every_string_of_a_finding_is_redacted():
    """Rule ids, paths, package facts, advisory ids, tool versions, instance parameters and
    `extra` keys as well as the free text (issue 16.7)."""
    f = Finding(
        tool="trivy",
        tool_version="0.50 " + GH,
        rule_id=AWS,
        title="t",
        severity=Severity.high,
        category=Category.dependency,
        vulnerability_ids=["CVE-2024-1", AWS],
        package=Package(ecosystem="pypi", name="pkg-" + GH, version="password=hunter2hunter2", purl="pkg:pypi/" + GH),
        location=Location(path=_SECRET_URI, start_line=1),
        instances=[Instance(url="https://x/", method="GET", param="token=" + "z" * 12)],
        extra={"token: abcdefgh1234": "v", "nested": [{"k": AWS}]},
    )
    redact_finding(f)
    dumped = f.model_dump_json()
    for secret in (GH, AWS, "hunter2hunter2", "z" * 12, "abcdefgh1234"):
        assert secret not in dumped
    assert f.location.path == "src/" + redaction_marker(GH) + "/app.py"
    assert f.severity is Severity.high and f.category is Category.dependency
    assert f.vulnerability_ids[0] == "CVE-2024-1" and f.rule_id == redaction_marker(AWS)


def test_a_token_in_a_sarif_uri_and_a_key_in_a_rule_id_never_reach_the_findings(tmp_path):
    sarif = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "CodeQL", "rules": [{"id": AWS, "shortDescription": {"text": "x"}}]}},
                "results": [
                    {
                        "ruleId": AWS,
                        "level": "error",
                        "message": {"text": "found"},
                        "locations": [
                            {"physicalLocation": {"artifactLocation": {"uri": _SECRET_URI}, "region": {"startLine": 3}}}
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "codeql.sarif").write_text(json.dumps(sarif))
    [f] = collect([tmp_path]).findings
    assert GH not in f.model_dump_json() and AWS not in f.model_dump_json()
    assert f.rule_id == redaction_marker(AWS)
