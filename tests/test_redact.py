from hypothesis import given, settings
from hypothesis import strategies as st

from secai.findings import Category, Finding, Instance, Location, Severity
from secai.log import mask_tokens
from secai.redact import Redactor, _redact, redact_finding, redact_text, redaction_marker

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
    f = Finding(tool="gitleaks", rule_id="generic", title="t", severity=Severity.high, category=Category.secret,
                message="found s3cr3t-value-42 here", location=Location(path="a.env", start_line=1, snippet="KEY=s3cr3t-value-42"),
                instances=[Instance(url="https://x/?k=s3cr3t-value-42", evidence="s3cr3t-value-42")],
                extra={"match": "KEY=s3cr3t-value-42"})
    redact_finding(f, ["s3cr3t-value-42"])
    assert "s3cr3t-value-42" not in f.model_dump_json()


def test_identifiers_that_merely_contain_a_keyword_are_not_secrets():
    code = "model, tokenizer = load('base')\nkeyboard = layout_name_here"
    assert redact_text(code) == code
    assert "hunter2hunter2" not in redact_text("db_password = hunter2hunter2")
    assert "abcdef123456" not in redact_text("GITHUB_TOKEN: abcdef123456")


_FRAGMENTS = ["password", "PWD", "Secrets", "token", "api_key", "access.key", "client-secret", "key", "Pass", "_x", "-z",
              "=", ":", " ", "\t", "\n", "\x1c", "'", '"', "`", ",", ";", "abcdef", "hunter22", "ab", "[REDACTED:0123456789ab]",
              "ghp_" + "a" * 36, "AKIA" + "B" * 16, "-----BEGIN RSA PRIVATE KEY-----", "tokenizer", "x", "]", "keyboard=qwerty"]


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.lists(st.sampled_from(_FRAGMENTS), max_size=8).map("".join), min_size=1, max_size=12),
       secrets=st.sampled_from([(), ("hunter22",)]))
def test_prefiltered_redaction_equals_plain_redaction_on_assignments_and_tokens(texts, secrets):
    """The joined RE2 scan sorts texts into clean / assignment only / anything: same results as
    redacting each text alone."""
    r = Redactor(secrets)
    r.prefilter(texts + [f"filler {i}" for i in range(8)])
    assert [r.text(t) for t in texts] == [_redact(t, r.secrets) for t in texts]
