from pathlib import Path

import pytest
import yaml

from secai.config import Settings, load_settings
from secai.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_documented_defaults_match_the_schema():
    documented = yaml.safe_load((ROOT / "config" / "secai.yaml").read_text())
    assert Settings.model_validate(documented).model_dump() == Settings().model_dump()


def test_env_overrides_file_and_cli_overrides_env(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("fix:\n  batch_size: 4\ntrain:\n  rank: 4\n")
    s = load_settings(cfg, environ={"SECAI_FIX__BATCH_SIZE": "8", "SECAI_HOME": str(tmp_path)})
    assert s.fix.batch_size == 8
    assert s.train.rank == 4
    assert s.home_dir == tmp_path
    assert s.store_path == tmp_path / "secai.sqlite3"
    s = load_settings(cfg, overrides={"fix": {"batch_size": 2}}, environ={"SECAI_FIX__BATCH_SIZE": "8"})
    assert s.fix.batch_size == 2


def test_env_list_values():
    s = load_settings(environ={"SECAI_DATASET__TRUSTED_BRANCHES": "[main, release]"})
    assert s.dataset.trusted_branches == ["main", "release"]


def test_unknown_key_names_key_and_file(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train:\n  rnak: 4\n")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, environ={})
    assert "train.rnak" in str(e.value) and str(cfg) in str(e.value)


def test_mistyped_value_and_unknown_env_section(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("fix:\n  batch_size: many\n")
    with pytest.raises(ConfigError, match="fix.batch_size"):
        load_settings(cfg, environ={})
    with pytest.raises(ConfigError, match="SECAI_TRIAN__RANK"):
        load_settings(environ={"SECAI_TRIAN__RANK": "4"})
    with pytest.raises(ConfigError, match="train.rank"):
        load_settings(environ={"SECAI_TRAIN__RANK": "x"})


def test_missing_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.yaml", environ={})
    bad = tmp_path / "b.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, environ={})


def test_cli_reports_config_error_in_one_line(tmp_path, capsys):
    from secai.cli import main

    cfg = tmp_path / "bad.yaml"
    cfg.write_text("bogus: 1\n")
    rc = main(["--config", str(cfg), "parse", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and "unknown key 'bogus'" in err[0] and "Traceback" not in err[0]


def test_env_override_of_a_nested_section_key():
    s = load_settings(environ={"SECAI_SCANNERS__SEMGREP__CONFIG": "/rules.yml", "SECAI_SCANNERS__TIMEOUT": "30"})
    assert s.scanners.semgrep.config == "/rules.yml" and s.scanners.timeout == 30
    with pytest.raises(ConfigError, match="scanners.semgrep.confg"):
        load_settings(environ={"SECAI_SCANNERS__SEMGREP__CONFG": "x"})
