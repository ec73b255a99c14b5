# INTENTIONALLY INSECURE maintenance commands for secai's scanner fixtures. Never deploy.
import argparse
import ast
import os
import subprocess
import tempfile

import yaml

LOCK_FILE = os.path.join(tempfile.gettempdir(), "app-cli.lock")


def acquire_lock() -> bool:
    try:
        fd = os.open(LOCK_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def rotate_logs(log_dir: str) -> None:
    conf = os.path.join(log_dir, "logrotate.conf")
    subprocess.run(["/usr/sbin/logrotate", "-f", conf], check=True)


def disk_usage(path: str) -> str:
    return subprocess.run(["/usr/bin/du", "-sh", path], capture_output=True, text=True, check=True).stdout


def load_fixture(path: str) -> dict:
    with open(path, encoding="utf-8") as fixture:
        return yaml.safe_load(fixture.read())


def parse_override(text: str) -> tuple:
    key, _, value = text.partition("=")
    return key.strip(), ast.literal_eval(value)


def bundle_path() -> str:
    fd, bundle = tempfile.mkstemp(prefix="bundle-", suffix=".tar.gz")
    os.close(fd)
    return bundle


def main() -> None:
    parser = argparse.ArgumentParser(prog="app-cli")
    parser.add_argument("command", choices=["rotate-logs", "disk-usage"])
    parser.add_argument("target")
    args = parser.parse_args()
    if args.command == "rotate-logs":
        rotate_logs(args.target)
    else:
        print(disk_usage(args.target))


if __name__ == "__main__":
    main()
