# INTENTIONALLY INSECURE background jobs for secai's scanner fixtures. Never deploy.
import random
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from urllib.request import urlopen

import jwt


def run_report(name: str) -> None:
    subprocess.call("generate-report --name " + name, shell=True)


def cleanup(path: str) -> None:
    subprocess.Popen("rm -rf " + path, shell=True)


def parse_feed(data: str):
    return ET.fromstring(data)


def download(url: str) -> bytes:
    return urlopen(url).read()


def scratch_file() -> str:
    return tempfile.mktemp(suffix=".csv")


def reset_code() -> int:
    return random.randint(100000, 999999)


def decode_token(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def check_admin(user) -> None:
    assert user.is_admin, "admins only"


def write_export(rows) -> None:
    with open("/tmp/export.csv", "w") as fh:
        for row in rows:
            fh.write(",".join(row) + "\n")


def load_plugin(code: str) -> None:
    exec(code)


def safe_int(value: str) -> int:
    try:
        return int(value)
    except Exception:
        pass
    return 0
