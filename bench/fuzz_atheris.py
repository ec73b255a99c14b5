"""Coverage-guided fuzzing of every parser and the zip extractor with atheris (libFuzzer), for
runs longer than the hypothesis suite in tests/. Not part of `make test`.

    .venv/bin/pip install atheris        # or: pip install -e '.[fuzz]'
    .venv/bin/python bench/fuzz_atheris.py -max_total_time=600 [libFuzzer flags ...]

Seeds are the shared corpus's reports (copied to a scratch folder, since libFuzzer adds its own
finds to the first corpus folder). Any exception other than secai's InputError is a crash; so is
a file written outside the extraction folder.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports():
    from secai.config import Limits
    from secai.errors import InputError
    from secai.ingest.archives import extract_zip
    from secai.ingest.collect import parse_file

SCRATCH = Path(tempfile.mkdtemp(prefix="secai-atheris-"))
atexit.register(shutil.rmtree, SCRATCH, True)  # libFuzzer may end the process without atexit
print(f"secai atheris scratch folder (seeds, inputs): {SCRATCH}", file=sys.stderr)
LIMITS = Limits(max_file_mb=1, max_run_mb=4, max_zip_entries=50)


def one_input(data: bytes) -> None:
    work = Path(tempfile.mkdtemp(dir=SCRATCH))
    try:
        report = work / "input"
        report.write_bytes(data)
        try:
            parse_file(report, limits=LIMITS)
        except InputError:
            pass
        if data[:2] == b"PK":
            dest = work / "a" / "b" / "c" / "dest"
            allowed = {report, *dest.parents}
            try:
                extract_zip(report, dest, LIMITS)
            except InputError:
                pass
            for d, dirs, files in os.walk(work):
                for name in dirs + files:
                    p = Path(d, name)
                    if p not in allowed and not p.is_relative_to(dest):
                        raise AssertionError(f"written outside the destination: {p}")
                    if p.is_symlink():
                        raise AssertionError(f"link created: {p}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _seed_folder() -> str:
    seeds = SCRATCH / "seeds"
    seeds.mkdir()
    corpus = ROOT.parent / "shared" / "corpus"
    for i, f in enumerate(sorted(p for p in corpus.rglob("*") if p.is_file() and p.stat().st_size < 300_000)):
        shutil.copyfile(f, seeds / f"{i:03d}{f.suffix}")
    return str(seeds)


def main() -> None:
    args = [a for a in sys.argv if a.startswith("-") or a == sys.argv[0]]
    atheris.Setup(args + [_seed_folder()], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
