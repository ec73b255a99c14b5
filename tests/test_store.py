import sqlite3

import pytest

from secai.run.store import Store, StoreError


def test_runs_fingerprints_and_latest(tmp_path):
    with Store(tmp_path / "s.db") as s:
        s.record_run("o/r", 1, fingerprints=["a", "b"], branch="main")
        s.record_run("o/r", 2, fingerprints=["b", "c"], branch="main")
        s.record_run("o/r", 3, fingerprints=["x"], branch="main", pr=7)
        assert s.latest_run("o/r", "main") == "2"
        assert s.fingerprints("o/r", 2) == {"b", "c"}
        assert s.is_processed("o/r", 3) and not s.is_processed("o/r", 4)
    mode = sqlite3.connect(tmp_path / "s.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_failures_back_off(tmp_path):
    with Store(tmp_path / "s.db") as s:
        d1 = s.record_failure("o/r", 9, "boom", base_delay=10)
        d2 = s.record_failure("o/r", 9, "boom", base_delay=10)
        assert d2 - d1 >= 9
        assert not s.due_for_retry("o/r", 9, now=d1 - 1)
        assert s.due_for_retry("o/r", 9, now=d2 + 1)
        assert s.run_state("o/r", 9)["attempts"] == 2


def test_a_store_with_the_old_fingerprint_keyed_cache_drops_it(tmp_path):
    import sqlite3

    db = sqlite3.connect(tmp_path / "s.db")
    db.execute("CREATE TABLE analysis_cache (fingerprint TEXT, model_id TEXT, prompt_version TEXT, result TEXT)")
    db.commit()
    db.close()
    with Store(tmp_path / "s.db") as s:
        tables = {r[0] for r in s._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "analysis_cache" not in tables and "analyses" in tables


def test_unwritable_store_is_a_clear_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "s.db").mkdir()  # a folder where the database file should be
    with pytest.raises(StoreError, match="cannot open the secai store"):
        Store(ro / "s.db")
