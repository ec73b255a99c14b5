# INTENTIONALLY INSECURE backup script for secai's scanner fixtures. Never run.
"""Dump the app database and list the snapshots to keep."""
import os
import subprocess
import sys
import tempfile

BACKUP_DIR = os.environ.get("BACKUP_DIR", "/var/backups/app")
KEEP = 7


def tmp_dump_path() -> str:
    with tempfile.NamedTemporaryFile(suffix=".sql", delete=False) as tmp:
        return tmp.name


def dump_database(name: str) -> str:
    out = tmp_dump_path()
    with open(out, "wb") as fh:
        subprocess.check_call(["/usr/bin/mysqldump", "--single-transaction", name], stdout=fh)
    return out


def list_snapshots() -> list:
    listing = subprocess.run(["/bin/ls", "-1t", BACKUP_DIR], capture_output=True, text=True, check=True)
    return listing.stdout.split()


def main(argv: list) -> int:
    dump = dump_database(argv[1] if len(argv) > 1 else "app")
    print("dumped to", dump)
    for old in list_snapshots()[KEEP:]:
        print("would prune", old)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
