"""Fuzzing `secai.ingest.archives.extract_zip`: archives built from real scanner reports, with hostile
member names (`..`, absolute and drive paths, backslashes, NULs, unicode), random mode bits
(symlink, device, fifo, socket, directory), and byte-level damage (truncated central directories,
lying sizes and modes, flipped bytes).

Whatever the archive: only `InputError`s escape, nothing appears outside the destination folder,
no link is created, and every reported file is a regular file inside the destination.

CI-sized by default; SECAI_FUZZ_EXAMPLES raises the count per test (e.g. 5000).
"""

import io
import os
import stat
import struct
import zipfile
from pathlib import Path

import pytest
from conftest import DOJO, MPO, corpus_present, requires_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secai.config import Limits
from secai.errors import InputError, UnsafeArchive
from secai.ingest.archives import extract_zip

EXAMPLES = int(os.environ.get("SECAI_FUZZ_EXAMPLES", "0")) or 800
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    derandomize=os.environ.get("SECAI_FUZZ_RANDOM") is None,
)
COUNT = {"archives": 0}
pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # duplicates are on purpose

# Real report bytes to put in the archives (small ones, so each example stays cheap).
CONTENTS = [
    *(
        [
            (MPO / "zap-baseline-scan-webauthn-test-credentials-service" / "report_json.json").read_bytes(),
            (MPO / "checkov-results-workflow_dispatch-392" / "checkov-results.sarif").read_bytes()[:20000],
            (DOJO / "gitleaks" / "gitleaks8_many.json").read_bytes(),
            (DOJO / "zap" / "some_2.9.0.xml").read_bytes()[:20000],
        ]
        if corpus_present()
        else []
    ),
    b"",
    b"A" * 300_000,  # compresses ~1000:1
]

# A mix of ordinary names, every way out of the folder we know of, and odd characters. `\x7f`
# stands for a NUL: zipfile cuts names at NUL when writing, so NULs are patched in afterwards;
# `\x01ABS` becomes an absolute path into the sandbox, where an escape would be noticed.
_NAME_PARTS = st.sampled_from(
    [
        "report.json",
        "results.sarif",
        "a",
        "dir",
        "sub/",
        ".",
        "..",
        "../..",
        "./",
        "//",
        "\\",
        "..\\",
        "C:",
        "c:\\x",
        "/etc",
        "\x01ABS",
        "~",
        "\x7f",
        "é",
        "日本",
        "\u202e",
        "con",
        "nul",
        " ",
        "x" * 120,
    ]
)
member_names = st.one_of(
    st.lists(_NAME_PARTS, min_size=1, max_size=5).map("/".join),
    st.lists(_NAME_PARTS, min_size=1, max_size=4).map("".join),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=40),
)
_MODES = [
    stat.S_IFREG | 0o644,
    stat.S_IFREG | 0o4755,
    stat.S_IFDIR | 0o755,
    stat.S_IFLNK | 0o777,
    stat.S_IFCHR | 0o644,
    stat.S_IFBLK | 0o644,
    stat.S_IFIFO | 0o644,
    stat.S_IFSOCK | 0o644,
    0,
]
modes = st.one_of(st.sampled_from(_MODES), st.integers(min_value=0, max_value=0xFFFF))
members = st.tuples(
    member_names,
    modes,
    st.one_of(st.sampled_from(range(len(CONTENTS))), st.binary(max_size=64)),
    st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
)


def _build(entries, abs_root: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, mode, content, method in entries:
            info = zipfile.ZipInfo(name.replace("\x01ABS", str(abs_root)) or "empty")
            info.external_attr = (mode & 0xFFFF) << 16
            info.compress_type = method
            data = CONTENTS[content] if isinstance(content, int) else content
            if stat.S_ISLNK(mode):
                data = b"../../../../../../../../../../etc/passwd"
            zf.writestr(info, data)
    return buf.getvalue().replace(b"\x7f", b"\x00")


def _patch(raw: bytearray, offset: int, fmt: str, value: int) -> None:
    if offset + struct.calcsize(fmt) <= len(raw):
        struct.pack_into(fmt, raw, offset, value & ((1 << (8 * struct.calcsize(fmt))) - 1))


def _damage(raw: bytes, data) -> bytes:
    """Byte-level lies in the headers, then truncation or flips."""
    out = bytearray(raw)
    central = [i for i in range(len(out) - 3) if out[i : i + 4] == b"PK\x01\x02"]
    local = [i for i in range(len(out) - 3) if out[i : i + 4] == b"PK\x03\x04"]
    eocd = out.rfind(b"PK\x05\x06")
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="lies")):
        lie = data.draw(
            st.sampled_from(
                ["csize", "usize", "mode", "local-size", "count", "cd-offset", "name-len", "truncate", "flip"]
            ),
            label="lie",
        )
        value = data.draw(st.sampled_from([0, 1, 7, 2**16 - 1, 2**31, 2**32 - 1, 200 * 2**20]), label="value")
        if lie in ("csize", "usize", "mode", "name-len") and central:
            at = central[data.draw(st.integers(min_value=0, max_value=len(central) - 1))]
            field = {"csize": (20, "<I"), "usize": (24, "<I"), "mode": (38, "<I"), "name-len": (28, "<H")}[lie]
            _patch(out, at + field[0], field[1], value << 16 if lie == "mode" else value)
        elif lie == "local-size" and local:
            _patch(out, local[data.draw(st.integers(min_value=0, max_value=len(local) - 1))] + 22, "<I", value)
        elif lie in ("count", "cd-offset") and eocd >= 0:
            if lie == "count":
                _patch(out, eocd + 8, "<H", value)
                _patch(out, eocd + 10, "<H", value)
            else:
                _patch(out, eocd + 16, "<I", value)
        elif lie == "truncate" and out:
            del out[data.draw(st.integers(min_value=0, max_value=len(out) - 1)) :]
        elif lie == "flip" and out:
            out[data.draw(st.integers(min_value=0, max_value=len(out) - 1))] = data.draw(st.integers(0, 255))
    return bytes(out)


def _tree(root: Path) -> set[str]:
    return {str(Path(d, n)) for d, dirs, files in os.walk(root) for n in dirs + files}


@pytest.fixture(scope="module", autouse=True)
def _report_count(request):
    yield
    report_count(request, f"zip fuzz: {COUNT['archives']} archives through extract_zip, 0 unhandled exceptions")


def report_count(request, line: str) -> None:
    """Print past pytest's output capture, so the figure shows in a normal run."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A deep destination, so that every `..` chain in the names still lands inside `base`."""
    base = tmp_path_factory.mktemp("zipfuzz")
    dest = base.joinpath(*"123456789") / "dest"
    dest.parent.mkdir(parents=True)
    return base, dest


def _extract_and_check(sandbox, raw: bytes, limits: Limits) -> None:
    base, dest = sandbox
    archive = base / "in.zip"
    archive.write_bytes(raw)
    before = _tree(base)
    COUNT["archives"] += 1
    try:
        res = extract_zip(archive, dest, limits)
    except InputError as e:
        assert isinstance(e, UnsafeArchive) and "\n" not in e.problem
        res = None
    try:
        _check_tree(base, dest, before, res, limits)
    finally:  # empty the destination for the next example, whatever happened
        for d, dirs, files in os.walk(dest, topdown=False):
            for n in files:
                Path(d, n).unlink()
            for n in dirs:
                p = Path(d, n)
                p.unlink() if p.is_symlink() else p.rmdir()
        archive.unlink()


def _check_tree(base: Path, dest: Path, before: set[str], res, limits: Limits) -> None:
    outside = {p for p in _tree(base) - before if not Path(p).is_relative_to(dest)}
    assert not outside, f"written outside the destination: {sorted(outside)[:5]}"
    root = dest.resolve()
    for d, dirs, files in os.walk(dest):
        for n in dirs + files:
            p = Path(d, n)
            assert not p.is_symlink(), f"link created: {p}"
            assert stat.S_ISDIR(p.lstat().st_mode) or stat.S_ISREG(p.lstat().st_mode), f"special file: {p}"
    if res is not None:
        assert res.bytes_written <= limits.max_run_mb * 1024 * 1024
        for f in res.files:
            assert f.resolve().is_relative_to(root) and f.is_file() and not f.is_symlink()
            assert f.stat().st_size <= limits.max_file_mb * 1024 * 1024
        for p in res.problems:
            assert isinstance(p, UnsafeArchive) and "\n" not in p.problem


limits_st = st.sampled_from(
    [
        Limits(),
        Limits(max_file_mb=0.05, max_run_mb=0.2, max_zip_entries=4, max_zip_ratio=20.0),
    ]
)


@requires_corpus
@FUZZ
@given(entries=st.lists(members, min_size=0, max_size=6), limits=limits_st)
def test_hostile_members(sandbox, entries, limits):
    _extract_and_check(sandbox, _build(entries, sandbox[0] / "abs"), limits)


@requires_corpus
@FUZZ
@given(entries=st.lists(members, min_size=1, max_size=4), limits=limits_st, data=st.data())
def test_damaged_archives(sandbox, entries, limits, data):
    _extract_and_check(sandbox, _damage(_build(entries, sandbox[0] / "abs"), data), limits)


@requires_corpus
@FUZZ
@given(data=st.data(), limits=limits_st)
def test_damaged_real_artifact_zips(sandbox, real_zips, data, limits):
    raw = real_zips[data.draw(st.integers(min_value=0, max_value=len(real_zips) - 1), label="zip")]
    _extract_and_check(sandbox, _damage(raw, data), limits)


@pytest.fixture(scope="module")
def real_zips() -> list[bytes]:
    """Each MPO artifact folder zipped the way GitHub serves an artifact download."""
    out = []
    for folder in sorted(p for p in MPO.iterdir() if p.is_dir()):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(folder.rglob("*")):
                if f.is_file() and f.stat().st_size < 200_000:
                    zf.write(f, f.relative_to(folder).as_posix())
        out.append(buf.getvalue())
    return out


def test_unsupported_zip_version_is_a_one_line_refusal(tmp_path):
    # Found by test_damaged_archives: a damaged central directory claiming "version needed to
    # extract" 6.4 makes zipfile raise NotImplementedError in its constructor.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("report.json", "{}")
    raw = bytearray(buf.getvalue())
    central = raw.index(b"PK\x01\x02")
    struct.pack_into("<H", raw, central + 6, 64)
    archive = tmp_path / "damaged.zip"
    archive.write_bytes(bytes(raw))
    with pytest.raises(UnsafeArchive) as e:
        extract_zip(archive, tmp_path / "out", Limits())
    assert "not a readable zip archive" in e.value.problem and "\n" not in e.value.problem
