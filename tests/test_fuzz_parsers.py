"""Property tests: mutated and truncated real reports of every format go through
`secai.ingest.collect.parse_file`; the only exceptions that may come out are the project's own input
errors, and whatever parses is a valid, redacted finding list.

Also: random bytes, and the redaction layer against its backtracking reference.
No raw secret of the corpus's gitleaks reports may come out, in findings or in error messages.

CI-sized by default (about 8,000 inputs here, plus tests/test_fuzz_zip.py); raise the example
count per test with SECAI_FUZZ_EXAMPLES (e.g. 5000).
"""

import copy
import json
import os
import xml.etree.ElementTree as ET  # builds test inputs from our own fixtures; secai parses with defusedxml

import pytest
from conftest import DOJO, MPO, ROOT, corpus_present, requires_corpus
from conftest import EXAMPLES as EXAMPLE_APP
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redact_reference import reference_redact
from test_fuzz_zip import report_count
from test_redact import _comparable

from secai.errors import InputError
from secai.findings import Finding
from secai.ingest import redact
from secai.ingest.collect import parse_file

EXAMPLES = int(os.environ.get("SECAI_FUZZ_EXAMPLES", "0")) or 200
COUNT = {"inputs": 0}
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("SECAI_FUZZ_RANDOM") is None,
)

# One or two real reports per format (small ones, so a few hundred examples stay fast).
SEEDS = {
    "zap-json": MPO / "zap-baseline-scan-webauthn-test-credentials-service" / "report_json.json",
    "zap-json-full": MPO / "zap-full-scan-webauthn-server" / "report_json.json",
    "zap-xml": DOJO / "zap" / "some_2.9.0.xml",
    "grype": DOJO / "anchore_grype" / "check_all_fields.json",
    "gitleaks-v8": DOJO / "gitleaks" / "gitleaks8_many.json",
    "gitleaks-legacy": DOJO / "gitleaks" / "redacted_data_many.json",
    "bandit": DOJO / "bandit" / "one_vuln.json",
    "npm-audit-6": DOJO / "npm_audit" / "many_vuln.json",
    "npm-audit-7": DOJO / "npm_audit_7_plus" / "many_vulns.json",
    "dependency-check": DOJO / "dependency_check" / "single_vuln.xml",
    "detect-secrets": ROOT / "tests" / "data" / "detect_secrets_baseline.json",
    "sarif-gitleaks": DOJO / "sarif" / "gitleaks_7.5.0.sarif",
    "sarif-checkov": MPO / "checkov-results-workflow_dispatch-392" / "checkov-results.sarif",
    "trivy-json": DOJO / "trivy" / "misconfigurations_and_secrets.json",
    "trivy-json-2": DOJO / "trivy" / "scheme_2_many_vulns.json",
    "checkov-json": DOJO / "checkov" / "checkov-report-many-vuln.json",
    "semgrep-json": DOJO / "semgrep" / "many_findings.json",
    "osv-scanner": DOJO / "osv_scanner" / "some_findings.json",
    "safety": EXAMPLE_APP / "artifacts" / "safety-results" / "safety.json",
    "semgrep-supply-chain": ROOT / "tests" / "data" / "semgrep" / "semgrep-supply-chain-api-cartography.json",
}
JSON_SEEDS = [k for k, p in SEEDS.items() if p.suffix != ".xml"]
XML_SEEDS = [k for k, p in SEEDS.items() if p.suffix == ".xml"]

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["", "0", "-1", "CWE-79", "HIGH", "critical", "1.2.3", "<p>x</p>", "pkg:npm/x@1", "REDACTED"]),
)
_json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)


def _write(tmp_dir, name: str, data: bytes):
    path = tmp_dir / name
    path.write_bytes(data)
    return path


def _check(path, seed_key: str = "") -> None:
    COUNT["inputs"] += 1
    try:
        findings, _ = parse_file(path)
    except InputError as e:
        assert str(e).startswith(str(path)), "the error must name the file"
        assert "\n" not in e.problem, "the error must be one line"
        assert not any(secret in str(e) for secret in ALL_SECRETS)
        return
    for note in findings.skipped:  # a malformed item is left out with a one-line note
        assert "\n" not in note and len(note) <= 300
        assert not any(secret in note for secret in ALL_SECRETS)
    for f in findings:
        assert isinstance(f, Finding)
        dumped = f.model_dump_json()
        assert "_secrets" not in f.extra
        for secret in ALL_SECRETS:
            assert secret not in dumped


def _gitleaks_secrets() -> set[str]:
    """Raw secret values in the corpus's gitleaks reports (legacy ones are already REDACTED)."""
    found: set[str] = set()
    for item in json.loads((DOJO / "gitleaks" / "gitleaks8_many.json").read_text()):
        found |= {item["Secret"], item["Match"]}
    for item in json.loads((DOJO / "gitleaks" / "redacted_data_many.json").read_text()):
        found.add(item["offender"])
    for run in json.loads((DOJO / "sarif" / "gitleaks_7.5.0.sarif").read_text())["runs"]:
        found |= {r["properties"]["offender"] for r in run.get("results", [])}
    return {s for s in found if s and "REDACTED" not in s}


ALL_SECRETS = _gitleaks_secrets() if corpus_present() else set()


def _nodes(doc, path=()):
    """Paths to every value in a JSON document (containers and leaves)."""
    out = [path]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _nodes(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _nodes(v, path + (i,))
    return out


def _apply(doc, path, op, value):
    if not path:
        return value if op == "replace" else doc
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    if op == "delete":
        del parent[key]
    elif op == "duplicate" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    else:
        parent[key] = value
    return doc


_SEED_DOCS = {k: json.loads(SEEDS[k].read_text()) for k in JSON_SEEDS} if corpus_present() else {}
_SEED_NODES = {k: _nodes(d) for k, d in _SEED_DOCS.items()}


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module", autouse=True)
def _report_count(request):
    yield
    report_count(request, f"parser fuzz: {COUNT['inputs']} inputs through parse_file/redaction, 0 unhandled exceptions")


@requires_corpus
@pytest.mark.parametrize("key", list(SEEDS))
@FUZZ
@given(data=st.data())
def test_truncated_and_byte_flipped(fuzz_dir, key, data):
    raw = SEEDS[key].read_bytes()
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)), label="cut")
    mutated = bytearray(raw[:cut])
    for _ in range(data.draw(st.integers(min_value=0, max_value=3), label="flips")):
        if mutated:
            i = data.draw(st.integers(min_value=0, max_value=len(mutated) - 1))
            mutated[i] = data.draw(st.integers(min_value=0, max_value=255))
    _check(_write(fuzz_dir, f"{key}{SEEDS[key].suffix}", bytes(mutated)), key)


@requires_corpus
@pytest.mark.parametrize("key", JSON_SEEDS)
@FUZZ
@given(data=st.data())
def test_json_structure_mutations(fuzz_dir, key, data):
    doc = copy.deepcopy(_SEED_DOCS[key])
    for _ in range(data.draw(st.integers(min_value=1, max_value=4), label="ops")):
        nodes = _nodes(doc) if doc is not _SEED_DOCS[key] else _SEED_NODES[key]
        path = nodes[data.draw(st.integers(min_value=0, max_value=len(nodes) - 1), label="node")]
        op = data.draw(st.sampled_from(["replace", "replace", "delete", "duplicate"]), label="op")
        if op == "delete" and not path:
            continue
        doc = _apply(doc, path, op, data.draw(_json_values, label="value"))
    _check(_write(fuzz_dir, f"{key}.json", json.dumps(doc).encode()), key)


@requires_corpus
@pytest.mark.parametrize("key", XML_SEEDS)
@FUZZ
@given(data=st.data())
def test_xml_structure_mutations(fuzz_dir, key, data):
    root = ET.fromstring(SEEDS[key].read_bytes())
    for _ in range(data.draw(st.integers(min_value=1, max_value=4), label="ops")):
        elements = list(root.iter())
        el = elements[data.draw(st.integers(min_value=0, max_value=len(elements) - 1), label="element")]
        op = data.draw(st.sampled_from(["text", "drop-child", "dup-child", "attr", "clear"]), label="op")
        children = list(el)
        if op == "text":
            el.text = data.draw(st.text(max_size=30))
        elif op == "drop-child" and children:
            el.remove(children[data.draw(st.integers(min_value=0, max_value=len(children) - 1))])
        elif op == "dup-child" and children:
            el.append(copy.deepcopy(children[data.draw(st.integers(min_value=0, max_value=len(children) - 1))]))
        elif op == "attr":
            el.set(data.draw(st.sampled_from(["version", "name", "type", "source"])), data.draw(st.text(max_size=10)))
        elif op == "clear" and el is not root:
            el.clear()
    _check(_write(fuzz_dir, f"{key}.xml", ET.tostring(root)), key)


@requires_corpus
def test_seeds_parse_cleanly():
    """The fuzz seeds themselves are good reports, so the mutations start from real shapes."""
    for key, path in SEEDS.items():
        findings, fmt = parse_file(path)
        assert fmt and findings, key


@requires_corpus
@FUZZ
@given(
    prefix=st.sampled_from([b"", b"{", b"[", b"<", b"\xef\xbb\xbf{", b'{"runs":[', b"<?xml version='1.0'?><"]),
    body=st.binary(max_size=400),
)
def test_random_bytes(fuzz_dir, prefix, body):
    _check(_write(fuzz_dir, "random.json", prefix + body))


_TOKENS = [
    "ghp_" + "A1b2C3d4E5" * 4,
    "AKIAIOSFODNN7EXAMPLE",
    "ANPA" + "Q" * 16,
    "xoxb-1234567890-abc",
    "hf_" + "x" * 34,
    "eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.c2lnbmF0dXJlcw",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIE",
    "password = 'hunter2!!'",
    "API_KEY: abcdef123456",
    "secret\u00a0=\u00a0s3cr3tvalue",
    "secret\x1c=\x0bvalue123",
    "token=",
    "keyboard",
]


@FUZZ
@given(
    texts=st.lists(
        st.lists(st.one_of(st.text(max_size=30), st.sampled_from(_TOKENS)), max_size=5).map("".join),
        min_size=1,
        max_size=30,
    )
)
def test_redaction_matches_the_backtracking_reference(texts):
    """The RE2 patterns redact what the patterns written for Python's `re` did, on random text."""
    COUNT["inputs"] += 1
    texts = [t for t in texts if _comparable(t)]
    r = redact.Redactor()
    assert [r.text(t) for t in texts] == [reference_redact(t) for t in texts]
