"""The command line: global flags anywhere, help for every flag, the exit-code table, `--fail-on`
and `--severity`, `config show`, and the Hub token lookup."""

from __future__ import annotations

import argparse
import json
import re

import pytest
from conftest import EXAMPLES, ROOT

from secai.cli import build_parser, main
from secai.exitcodes import TABLE, Exit, markdown_table

TRIVY_SARIF = EXAMPLES / "artifacts" / "trivy-config" / "trivy-config.sarif"


def _all_parsers(p: argparse.ArgumentParser, name: str = "secai-runner"):
    yield name, p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from _all_parsers(child, f"{name} {sub}")


def test_every_flag_of_every_command_has_help():
    missing = []
    for name, p in _all_parsers(build_parser()):
        for action in p._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "flags without help: " + ", ".join(missing)


def test_every_help_shows_the_exit_codes():
    for name, p in _all_parsers(build_parser()):
        text = p.format_help()
        assert "exit codes" in text, name
        for code, _ in TABLE:
            assert re.search(rf"^\s+{int(code)}\s+\S", text, re.M), f"{name}: exit code {int(code)} missing"


def test_readme_shows_the_exit_code_table():
    assert markdown_table() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_global_flags_after_the_subcommand(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("fix:\n  bach_size: 4\n")
    report = str(EXAMPLES / "artifacts" / "bandit-results" / "bandit.json")
    assert main(["parse", report, "--format", "json", "--config", str(bad)]) == Exit.USAGE
    assert f"{bad}:2: unknown key 'fix.bach_size'" in capsys.readouterr().err
    # -q after the subcommand silences the warning that a run with no reports gives
    (tmp_path / "empty").mkdir()
    assert main(["parse", str(tmp_path / "empty"), "--format", "json"]) == Exit.USAGE
    assert "no scanner reports found" in capsys.readouterr().err
    assert main(["parse", str(tmp_path / "empty"), "--format", "json", "-q"]) == Exit.USAGE
    assert capsys.readouterr().err == ""
    # flags before and after add up
    args = build_parser().parse_args(["-v", "parse", report, "-v"])
    from secai.cli import _merge_global_flags

    _merge_global_flags(args)
    assert args.verbose == 2 and args.quiet is False and args.config is None


def _suppressed_copy(tmp_path, suppress: bool):
    """The real Trivy SARIF of the examples, with its critical results marked suppressed in-source."""
    doc = json.loads(TRIVY_SARIF.read_text())
    rules = {r["id"]: r for run in doc["runs"] for r in run["tool"]["driver"]["rules"]}
    n = 0
    for run in doc["runs"]:
        for res in run["results"]:
            score = float(rules[res["ruleId"]]["properties"].get("security-severity", 0))
            if score >= 9.0 and suppress:
                res["suppressions"] = [{"kind": "inSource", "justification": "accepted for the demo"}]
                n += 1
    out = tmp_path / ("suppressed.sarif" if suppress else "plain.sarif")
    out.write_text(json.dumps(doc))
    return out, n


def test_fail_on_counts_live_findings_only(tmp_path, capsys):
    plain, _ = _suppressed_copy(tmp_path, suppress=False)
    suppressed, n = _suppressed_copy(tmp_path, suppress=True)
    assert n == 2
    assert main(["parse", str(plain), "--format", "json", "--fail-on", "critical"]) == Exit.FINDINGS
    out, err = capsys.readouterr()
    assert "2 findings at or above critical" in err
    # the two criticals are suppressed: listed, but they do not fail the gate
    assert main(["parse", str(suppressed), "--format", "json", "--fail-on", "critical"]) == Exit.OK
    shown = json.loads(capsys.readouterr().out)
    assert sum(f["suppressed"] for f in shown) == 2
    assert main(["parse", str(suppressed), "--format", "json", "--fail-on", "high"]) == Exit.FINDINGS
    assert main(["parse", str(suppressed), "--format", "json", "--fail-on", "none"]) == Exit.OK


def test_unrated_checkov_findings_never_fail_the_gate(capsys):
    """Checkov rates nothing: its checks take the equivalent Trivy check's severity or stay unrated."""
    checkov = EXAMPLES / "artifacts" / "checkov-results"
    assert main(["parse", str(checkov), "--format", "json", "--severity", "critical"]) == Exit.OK
    crit = json.loads(capsys.readouterr().out)
    assert sorted(f["rule_id"] for f in crit) == ["CKV_AWS_382", "CKV_SECRET_2"]
    assert main(["parse", str(checkov), "--format", "json", "--fail-on", "info"]) == Exit.FINDINGS
    err = capsys.readouterr().err
    total = int(re.search(r"(\d+) findings at or above info", err).group(1))
    from secai.ingest.collect import collect
    from secai.report.severity import rating

    findings = collect([checkov]).findings
    live = [f for f in findings if not f.suppressed]  # the 2 `#checkov:skip=` checks never gate
    unrated = [f for f in live if rating(f) is None]
    assert (len(findings), len(live)) == (81, 79) and unrated and total == 79 - len(unrated)
    assert {f.rule_id for f in unrated} >= {"CKV_GHA_2", "CKV2_AWS_62"}


def test_severity_filters_table_json_and_sarif(tmp_path, capsys):
    trivy = str(EXAMPLES / "artifacts" / "trivy-config" / "trivy-config.json")
    assert main(["parse", trivy, "--format", "json", "--severity", "high"]) == Exit.OK
    shown = json.loads(capsys.readouterr().out)
    assert shown and {f["severity"] for f in shown} == {"critical", "high"}
    assert main(["parse", trivy, "--format", "sarif", "--severity", "critical"]) == Exit.OK
    sarif = json.loads(capsys.readouterr().out)
    assert sum(len(r["results"]) for r in sarif["runs"]) == 2


def test_unreadable_input_is_exit_2_and_the_rest_is_still_printed(tmp_path, capsys):
    bad = tmp_path / "broken.sarif"
    bad.write_text('{"version": "2.1.0", "runs": [')
    trivy = str(EXAMPLES / "artifacts" / "trivy-config" / "trivy-config.json")
    assert main(["parse", trivy, str(bad), "--format", "json", "--fail-on", "critical"]) == Exit.USAGE
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 39 and "broken.sarif" in err


def test_config_show_names_where_each_value_came_from(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "secai.yaml"
    cfg.write_text("# team settings\nfix:\n  batch_size: 4\ntrain:\n  rank: 2\n")
    monkeypatch.setenv("SECAI_TRAIN__RANK", "6")
    assert main(["config", "show", "--config", str(cfg), "--format", "json"]) == Exit.OK
    shown = json.loads(capsys.readouterr().out)
    assert shown["fix.batch_size"] == {"value": 4, "source": f"{cfg}:3"}
    assert shown["train.rank"] == {"value": 6, "source": "SECAI_TRAIN__RANK"}
    assert shown["train.seed"] == {"value": 0, "source": "default"}
    assert main(["config", "show"]) == Exit.OK
    assert re.search(r"^train\.rank\s+6\s+# SECAI_TRAIN__RANK$", capsys.readouterr().out, re.M)


def test_every_config_problem_at_once_with_its_line(tmp_path):
    from secai.config import load_settings
    from secai.errors import ConfigError

    cfg = tmp_path / "bad.yaml"
    cfg.write_text("dataset:\n  bach_size: 4\ntrain:\n  rank: many\n  oops: 1\n")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, environ={"SECAI_TRIAN__RANK": "1", "SECAI_EVALUATE__MARGIN": "lots"})
    lines = str(e.value).splitlines()
    assert lines == [
        f"{cfg}:2: unknown key 'dataset.bach_size'",
        f"{cfg}:4: invalid value for 'train.rank': Input should be a valid integer, unable to parse string as an integer",
        f"{cfg}:5: unknown key 'train.oops'",
        "environment variable SECAI_TRIAN__RANK: unknown section 'trian'",
        "environment variable SECAI_EVALUATE__MARGIN: invalid value for 'evaluate.margin': "
        "Input should be a valid number, unable to parse string as a number",
    ]
    bad_yaml = tmp_path / "b.yaml"
    bad_yaml.write_text("train:\n  rank: 2\n  keys: [a, b\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(bad_yaml))}:4:1: not valid YAML"):
        load_settings(bad_yaml, environ={})


def test_hub_token_from_the_cached_login(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    import huggingface_hub.constants as hc

    from secai.log import mask_tokens
    from secai.release.token import hub_token

    token_file = tmp_path / "token"
    monkeypatch.setattr(hc, "HF_TOKEN_PATH", str(token_file))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert hub_token() is None
    token_file.write_text("hf_" + "L" * 34)  # what `hf auth login` saves
    assert hub_token() == "hf_" + "L" * 34
    assert mask_tokens("token hf_" + "L" * 34) == "token ***"
    monkeypatch.setenv("HF_TOKEN", "hf_" + "E" * 34)
    assert hub_token() == "hf_" + "E" * 34  # the environment first, as huggingface_hub itself does


def test_the_severity_table_page_equals_the_code():
    from secai.report.severity import docs_table

    assert docs_table() in (ROOT / "docs" / "severities.md").read_text(encoding="utf-8")
