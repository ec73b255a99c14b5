import json

from conftest import CORPUS, MPO, requires_corpus

from secai.findings import Category, Finding, Location, Package, Severity
from secai.ingest.collect import collect
from secai.report.sarif import safe_uri, to_sarif


def _check_structure(doc):
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    for run in doc["runs"]:
        rules = run["tool"]["driver"]["rules"]
        assert len({r["id"] for r in rules}) == len(rules)
        for rule in rules:
            assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"] and rule["help"]["text"]
            assert 0.0 <= float(rule["properties"]["security-severity"]) <= 10.0
        for res in run["results"]:
            assert 0 <= res["ruleIndex"] < len(rules) and rules[res["ruleIndex"]]["id"] == res["ruleId"]
            assert res["level"] in ("error", "warning", "note") and res["message"]["text"]
            assert res["partialFingerprints"]["secai/v1"]
            [loc] = res["locations"]
            uri = loc["physicalLocation"]["artifactLocation"]["uri"]
            assert uri and not uri.startswith(("/", "file:")) and ".." not in uri.split("/") and "\\" not in uri
            region = loc["physicalLocation"]["region"]
            assert region["startLine"] >= 1 and region["endLine"] >= region["startLine"]


@requires_corpus
def test_corpus_export_round_trips(tmp_path):
    first = collect([CORPUS])
    assert first.findings
    doc = to_sarif(first.findings)
    _check_structure(doc)
    assert sum(len(r["results"]) for r in doc["runs"]) == len(first.findings)
    out = tmp_path / "secai.report.sarif"
    out.write_text(json.dumps(doc))
    again = collect([out])
    assert not again.errors
    assert len(again.findings) == len(first.findings)
    assert len({f.fingerprint for f in again.findings}) == len({f.fingerprint for f in first.findings})
    assert {f.severity for f in again.findings} == {f.severity for f in first.findings}


@requires_corpus
def test_dependency_without_file_points_at_its_report(tmp_path):
    findings = collect([MPO / "docker-security-scan-results-trivy-action" / "webauthn-comprehensive.sarif"]).findings
    doc = to_sarif(findings)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in doc["runs"][0]["results"]}
    assert uris == {"hitoshura25/webauthn-server", "app/app.jar"}
    props = doc["runs"][0]["results"][-1]["properties"]
    assert props["package"]["name"] and props["category"] == "dependency"


def test_hostile_paths_and_text_are_neutralised():
    f = Finding(
        tool="demo",
        rule_id="R<1>",
        title="<img src=x> @everyone",
        severity=Severity.critical,
        category=Category.code,
        cwe=[79],
        message="",
        remediation="<script>alert(1)</script> @admin",
        location=Location(path="file:///../../etc/passwd", start_line=0),
        source="/abs/report.json",
    )
    g = Finding(
        tool="demo",
        rule_id="DEP",
        title="t",
        severity=Severity.low,
        category=Category.dependency,
        package=Package(name="x", version="1"),
        source="art.zip!reports/osv.json",
    )
    doc = to_sarif([f, g])
    _check_structure(doc)
    rule = doc["runs"][0]["tool"]["driver"]["rules"][0]
    assert "<script>" not in rule["help"]["markdown"] and "@\u200badmin" in rule["help"]["markdown"]
    assert "external/cwe/cwe-079" in rule["properties"]["tags"]
    assert rule["properties"]["security-severity"] == "9.5"
    r0, r1 = doc["runs"][0]["results"]
    assert r0["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "etc/passwd"
    assert r0["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
    assert r1["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "reports/osv.json"
    assert r1["ruleIndex"] == 1


def test_safe_uri():
    assert safe_uri("C:\\src\\a.py") == "src/a.py"
    assert safe_uri("./a/../b.py") == "a/b.py"
    assert safe_uri("/") is None
