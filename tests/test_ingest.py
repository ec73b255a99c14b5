"""Ingest and `secai-runner parse`: directories, artifact zips, what is (not) a report, empty
reports, and bad input reported as one line per file while everything else is still parsed."""

import json
import os
import subprocess
import sys
import zipfile

import pytest
from conftest import DOJO, MPO, ROOT, requires_corpus

from secai.cli import main
from secai.ingest.collect import collect

ZAP_FULL = MPO / "zap-full-scan-webauthn-server" / "report_json.json"
BANDIT_ONE = DOJO / "bandit" / "one_vuln.json"
JSON_KEYS = {
    "tool",
    "rule_id",
    "title",
    "severity",
    "cwe",
    "vulnerability_ids",
    "package",
    "location",
    "url",
    "fingerprint",
}


def _zap_artifact_zip(path):
    """A ZAP action artifact as GitHub serves it: the JSON report beside HTML and Markdown."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(ZAP_FULL, "report_json.json")
        zf.writestr("report_html.html", "<!DOCTYPE html><html><body>ZAP report</body></html>")
        zf.writestr("report_md.md", "# ZAP Scanning Report\n")
    return path


@requires_corpus
def test_whole_mpo_artifact_tree():
    result = collect([MPO])
    assert not result.errors
    formats = {r.path.rsplit("/", 1)[-1]: r.format for r in result.reports}
    assert formats["report_json.json"] == "zap-json"
    assert formats["osv-results.json"] == "osv-scanner"
    assert formats["semgrep-results.json"] == "semgrep-json"
    assert formats["checkov-results.sarif"] == "sarif"
    assert len(result.reports) == 9
    # Every finding has a fingerprint, and no two share one.
    assert len({f.fingerprint for f in result.findings}) == len(result.findings)
    assert sum(f.tool == "zap" for f in result.findings) == 9


@requires_corpus
def test_every_dojo_sample_of_these_formats_parses_without_problems():
    folders = ["zap", "anchore_grype", "gitleaks", "bandit", "npm_audit", "npm_audit_7_plus", "dependency_check"]
    result = collect([DOJO / name for name in folders])
    assert not result.errors
    by_format = {}
    for report in result.reports:
        by_format[report.format] = by_format.get(report.format, 0) + report.findings
    assert by_format == {
        "zap-xml": 11,
        "grype": 6,
        "gitleaks": 9,
        "empty": 0,
        "bandit": 215,
        "npm-audit": 8,
        "dependency-check": 1,
    }


@requires_corpus
def test_zip_artifact_skips_html_and_markdown(tmp_path):
    z = _zap_artifact_zip(tmp_path / "zap_scan.zip")
    result = collect([z])
    assert not result.errors
    assert len(result.findings) == 8 and sum(len(f.instances) for f in result.findings) == 28
    skipped = sorted(p.path for p in result.problems if p.level == "skipped")
    assert skipped == [f"{z}!report_html.html", f"{z}!report_md.md"]
    assert all(f.source == f"{z}!report_json.json" for f in result.findings)


@requires_corpus
def test_directory_with_nested_zip_and_non_reports(tmp_path):
    root = tmp_path / "artifacts"
    (root / "zap").mkdir(parents=True)
    _zap_artifact_zip(root / "zap" / "zap.zip")
    (root / "bandit").mkdir()
    (root / "bandit" / "bandit.json").write_bytes(BANDIT_ONE.read_bytes())
    (root / "bandit" / "run.log").write_text("bandit finished\n")
    (root / "notes.txt").write_text("hello")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    result = collect([root])
    assert not result.errors and not [p for p in result.problems if p.level == "warning"]
    assert sorted(f.tool for f in result.findings) == ["bandit"] + ["zap"] * 8
    assert {p.path.rsplit("/", 1)[-1] for p in result.problems} == {
        "zap.zip!report_html.html",
        "zap.zip!report_md.md",
        "run.log",
        "notes.txt",
        "image.png",
    }


@requires_corpus
def test_zips_in_folders_are_found_by_content_whatever_their_name(tmp_path):
    root = tmp_path / "artifacts"
    root.mkdir()
    _zap_artifact_zip(root / "zap-report.html")  # a zip under a name that is otherwise skipped
    _zap_artifact_zip(root / "zap-report.json")  # and one under a report's name
    (root / "bandit.json").write_bytes(BANDIT_ONE.read_bytes())
    result = collect([root])
    assert not result.errors
    assert sorted(f.tool for f in result.findings) == ["bandit"] + ["zap"] * 8  # the two zips agree
    assert {r.path.rsplit("/", 1)[-1] for r in result.reports} == {
        "zap-report.html!report_json.json",
        "zap-report.json!report_json.json",
        "bandit.json",
    }


@requires_corpus
def test_oversize_report_in_folder_is_one_error_and_the_rest_parse(tmp_path):
    from secai.config import Limits

    (tmp_path / "big.json").write_bytes(b"[" + b" " * 2_000_000 + b"]")
    (tmp_path / "bandit.json").write_bytes(BANDIT_ONE.read_bytes())
    result = collect([tmp_path], Limits(max_file_mb=1))
    assert [str(p) for p in result.errors] == [f"{tmp_path}/big.json: file is 2000002 bytes, over the 1 MB limit"]
    assert [f.tool for f in result.findings] == ["bandit"]


@pytest.mark.parametrize("content", [b"", b"   \n", b"null", b"null\n", b"[]", b"\xef\xbb\xbf[ ]\n"])
def test_empty_reports_are_a_warning_not_an_error(tmp_path, content):
    report = tmp_path / "gitleaks-report.json"
    report.write_bytes(content)
    result = collect([report])
    assert result.findings == [] and not result.errors
    assert [(p.level, p.message) for p in result.problems] == [("warning", "empty report (no findings)")]


def test_explicit_non_report_is_an_error_but_skipped_inside_folders(tmp_path):
    md = tmp_path / "README.md"
    md.write_text("# not a report\n")
    assert [str(p) for p in collect([md]).errors] == [f"{md}: not a JSON or XML report"]
    assert collect([tmp_path]).errors == []


def test_unknown_json_in_folder_is_a_warning_named_explicitly_an_error(tmp_path):
    other = tmp_path / "package.json"
    other.write_text(json.dumps({"name": "demo", "version": "1.0.0"}))
    inside = collect([tmp_path])
    assert not inside.errors
    assert [p.level for p in inside.problems] == ["warning"]
    assert collect([other]).errors[0].message == "JSON content is not a report format secai knows"


def _bad_inputs(tmp_path):
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(ZAP_FULL.read_bytes()[:5000])
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(b'{"results": ["caf\xe9"]}')
    wrong_shape = tmp_path / "wrong-shape.json"
    wrong_shape.write_text(json.dumps({"generated_at": "x", "metrics": {}, "results": [{"test_id": "B101"}]}))
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"hello": "world"}))
    broken_xml = tmp_path / "zap.xml"
    broken_xml.write_text("<OWASPZAPReport><site>")
    missing = tmp_path / "missing.json"
    return {
        truncated: "invalid JSON at line",
        latin1: "not valid UTF-8",
        wrong_shape: "bandit: malformed item skipped, results[0]: ValueError: result without test_id or filename",
        unknown: "not a report format secai knows",
        broken_xml: "invalid XML",
        missing: "no such file or directory",
    }


@requires_corpus
def test_cli_bad_inputs_one_line_each_others_still_parsed(tmp_path, capsys):
    bad = _bad_inputs(tmp_path)
    rc = main(["parse", str(BANDIT_ONE), *map(str, bad), str(ZAP_FULL), "--format", "json"])
    out, err = capsys.readouterr()
    assert rc == 2  # an unreadable input: exit 2 (secai.exitcodes)
    findings = json.loads(out)
    assert sorted({f["tool"] for f in findings}) == ["bandit", "zap"] and len(findings) == 9
    assert all(JSON_KEYS <= set(f) for f in findings)
    lines = err.strip().splitlines()
    assert len(lines) == len(bad)
    for path, problem in bad.items():
        (line,) = [ln for ln in lines if f"{path}:" in ln]
        assert problem in line
    assert "Traceback" not in err


@requires_corpus
def test_cli_exit_zero_when_all_inputs_parse(tmp_path, capsys):
    rc = main(["parse", str(BANDIT_ONE), "--format", "json"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    (f,) = json.loads(out)
    assert f["rule_id"] == "B101" and f["severity"] == "low" and f["cwe"] == []
    assert f["location"]["path"] == "one/one.py" and f["location"]["start_line"] == 2
    assert f["package"] is None and len(f["fingerprint"]) == 32


@requires_corpus
def test_cli_verbose_lists_skipped_files(tmp_path, capsys):
    z = _zap_artifact_zip(tmp_path / "zap.zip")
    assert main(["-v", "parse", str(z), "--format", "json"]) == 0
    err = capsys.readouterr().err
    assert "report_html.html: not a report; skipped" in err
    assert main(["parse", str(z), "--format", "json"]) == 0
    assert "skipped" not in capsys.readouterr().err


@requires_corpus
def test_cli_package_shape(capsys):
    assert main(["parse", str(DOJO / "anchore_grype" / "fix_available.json"), "--format", "json"]) == 0
    (f,) = json.loads(capsys.readouterr().out)
    assert set(f["package"]) >= {"ecosystem", "name", "version", "fixed_versions"}
    assert f["package"]["fixed_versions"] == ["1.2.3"] and f["vulnerability_ids"] == ["CVE-2009-3882"]


@requires_corpus
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    locked = tmp_path / "locked.json"
    locked.write_bytes(BANDIT_ONE.read_bytes())
    locked.chmod(0)
    try:
        (problem,) = collect([locked]).errors
        assert problem.message.startswith("cannot read file")
    finally:
        locked.chmod(0o600)


@requires_corpus
def test_real_process_stderr_and_exit_code(tmp_path):
    bad = tmp_path / "broken.sarif"
    bad.write_text('{"version": "2.1.0", "runs": [')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "secai.cli", "parse", str(bad), str(ZAP_FULL), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert len(json.loads(proc.stdout)) == 8
    assert proc.stderr.strip().splitlines() == [f"secai: {bad}: invalid JSON at line 1 column 31: Expecting value"]
