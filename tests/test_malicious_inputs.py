"""Malicious artifacts: each is refused with a message naming it, and the other inputs still parse."""

import json
import stat
import zipfile

import pytest

from secai.config import Limits
from secai.errors import UnsafeArchive
from secai.ingest.archives import extract_zip
from secai.ingest.collect import collect

GOOD_BANDIT = {
    "errors": [],
    "generated_at": "2024-01-01T00:00:00Z",
    "metrics": {"_totals": {}},
    "results": [],
}


def _zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def test_zip_slip_absolute_symlink_device_are_refused_others_extracted(tmp_path):
    z = _zip(
        tmp_path / "a.zip",
        [
            ("../escape.json", b"{}", None),
            ("/etc/abs.json", b"{}", None),
            ("C:/win.json", b"{}", None),
            ("link.json", b"/etc/passwd", stat.S_IFLNK | 0o777),
            ("fifo", b"", stat.S_IFIFO | 0o644),
            ("ok/report.json", b"{}", None),
        ],
    )
    res = extract_zip(z, tmp_path / "out")
    names = sorted(p.relative_to((tmp_path / "out").resolve()).as_posix() for p in res.files)
    assert names == ["ok/report.json"]
    messages = " | ".join(str(p) for p in res.problems)
    for bad in ("../escape.json", "/etc/abs.json", "C:/win.json", "link.json", "fifo"):
        assert f"a.zip!{bad}" in messages
    assert "symlink" in messages and "device" in messages
    assert not (tmp_path / "escape.json").exists()


def test_zip_bomb_ratio_and_size_caps(tmp_path):
    z = _zip(tmp_path / "bomb.zip", [("big.json", b"0" * (20 << 20), None), ("ok.json", b"{}", None)])
    res = extract_zip(z, tmp_path / "out", Limits(max_zip_ratio=100))
    assert [p.name for p in res.files] == ["ok.json"]
    assert "zip bomb" in str(res.problems[0])
    res = extract_zip(z, tmp_path / "out2", Limits(max_file_mb=1, max_zip_ratio=1e9))
    assert "over the 1 MB limit" in str(res.problems[0])


def test_lying_header_is_caught_while_streaming(tmp_path):
    z = tmp_path / "lie.zip"
    _zip(z, [("a.json", b"x" * (3 << 20), None)])
    data = bytearray(z.read_bytes())
    # Rewrite the declared uncompressed size (central directory) to 10 bytes.
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (10).to_bytes(4, "little")
    z.write_bytes(bytes(data))
    res = extract_zip(z, tmp_path / "out", Limits(max_file_mb=1, max_zip_ratio=1e9))
    assert res.files == [] and res.problems


def test_too_many_entries(tmp_path):
    buf = tmp_path / "many.zip"
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(10_000):
            zf.writestr(f"f{i}.txt", b"")
    with pytest.raises(UnsafeArchive, match="10000 entries exceed the limit of 5000"):
        extract_zip(buf, tmp_path / "out")


def test_ingest_goes_on_after_every_kind_of_bad_input(tmp_path):
    d = tmp_path / "art"
    d.mkdir()
    (d / "good.json").write_text(json.dumps(GOOD_BANDIT))
    huge = d / "huge.json"
    with open(huge, "wb") as fh:
        fh.write(b"{")
        fh.truncate(200 << 20)  # sparse 200 MB file
    (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (d / "laughs.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>'
    )
    (d / "latin1.json").write_bytes(b'{"name": "caf\xe9"}')
    (d / "nul.json").write_bytes(b'{"a": "\x00"}')
    (d / "truncated.sarif").write_text('{"version": "2.1.0", "runs": [')
    (d / "report_html.html").write_text("<!DOCTYPE html><html></html>")
    z = _zip(
        tmp_path / "art.zip", [("../../evil.json", b"{}", None), ("inner.json", json.dumps(GOOD_BANDIT).encode(), None)]
    )
    res = collect([d, z], Limits(max_file_mb=100))
    by_file = {p.path.rsplit("/", 1)[-1]: p for p in res.problems}
    assert "over the 100 MB limit" in by_file["huge.json"].message
    assert "nested deeper" in by_file["deep.json"].message
    assert "XML refused" in by_file["laughs.xml"].message
    assert "not valid UTF-8" in by_file["latin1.json"].message
    assert "NUL" in by_file["nul.json"].message
    assert "invalid JSON" in by_file["truncated.sarif"].message
    assert by_file["report_html.html"].level == "skipped"
    assert any("evil.json" in p.path and "escapes" in p.message for p in res.problems)
    assert all("\n" not in str(p) for p in res.problems)
    formats = sorted(r.format for r in res.reports)
    # Both good reports were read, whatever else failed.
    assert len(formats) == 2, res.reports


COMMANDS = "\n::add-mask::leak\n::error title=Approved::looks fine\n::stop-commands::x\n"


def _workflow_command_lines(text: str) -> list[str]:
    """Lines the Actions runner would read as workflow commands (it trims whitespace first)."""
    return [line for line in text.splitlines() if line.strip().startswith("::")]


def test_file_and_entry_names_with_line_breaks_print_no_workflow_commands(tmp_path):
    """`parse` (and the collect step) log file names, zip entry names and finding text: each log
    line and table cell stays one line, so no name can start a line with `::` (issue 16.5)."""
    import os
    import subprocess
    import sys

    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / f"r{COMMANDS}x.json").write_text("not json")
    _zip(reports / "a.zip", [(f"e{COMMANDS}y.json", b"not json", None)])
    bandit = {**GOOD_BANDIT, "results": [{"filename": f"a{COMMANDS}.py", "test_id": "B1", "issue_text": COMMANDS}]}
    (reports / "bandit.json").write_text(json.dumps(bandit))
    proc = subprocess.run(
        [sys.executable, "-m", "secai.cli", "parse", str(reports)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    out = proc.stdout + proc.stderr
    assert "%0A::add-mask::leak%0A" in out  # the names are still shown, escaped like GitHub's toolkit
    assert _workflow_command_lines(out) == []


def test_glob_matches_through_symbolic_links_are_refused(tmp_path, monkeypatch):
    """A scanned tree may plant links (`scans/link.json -> /etc/...`, a linked folder): the
    collect step's globs skip them instead of reading where they point (issue 16, Low)."""
    from secai.commands.collect import expand_paths

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text(json.dumps(GOOD_BANDIT))
    scans = tmp_path / "work" / "scans"
    scans.mkdir(parents=True)
    (scans / "real.json").write_text(json.dumps(GOOD_BANDIT))
    (scans / "link.json").symlink_to(outside / "secret.json")
    (scans / "linked").symlink_to(outside)
    monkeypatch.chdir(tmp_path / "work")
    paths, problems = expand_paths(["scans/**/*.json", str(tmp_path / "work" / "scans" / "*.json")])
    assert paths == ["scans/real.json", str(scans / "real.json")]
    assert sorted(p.path for p in problems) == sorted(
        ["scans/link.json", "scans/linked/secret.json", str(scans / "link.json")]
    )
    assert all(p.message == "symbolic link; skipped" for p in problems)


def test_the_data_home_is_private_and_old_run_folders_go(tmp_path, monkeypatch):
    """SECAI_HOME holds raw reports, findings and the store: 0700, made so by every command, an
    existing 0755 one too; run folders untouched for `retention_days` are deleted (issue 16, Low)."""
    import os
    import time

    from secai.cli import main
    from secai.run.folder import prune_runs

    home = tmp_path / "home"
    monkeypatch.setenv("SECAI_HOME", str(home))
    (tmp_path / "r.json").write_text(json.dumps(GOOD_BANDIT))
    assert main(["parse", str(tmp_path / "r.json")]) == 0
    assert home.stat().st_mode & 0o777 == 0o700
    home.chmod(0o755)
    main(["parse", str(tmp_path / "r.json")])
    assert home.stat().st_mode & 0o777 == 0o700

    runs = home / "runs"
    old, new = runs / "old", runs / "new"
    for folder in (old, new):
        (folder / "inputs").mkdir(parents=True)
        (folder / "findings.json").write_text("[]")
    month_ago = time.time() - 31 * 86400
    for p in (old, old / "inputs", old / "findings.json"):
        os.utime(p, (month_ago, month_ago))
    assert prune_runs(runs, 0) == [] and old.exists()
    assert prune_runs(runs, 30) == [old]
    assert not old.exists() and new.exists()
