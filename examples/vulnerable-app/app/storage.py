# INTENTIONALLY INSECURE file storage helpers for secai's scanner fixtures. Never deploy.
"""Blobs live under STORAGE_ROOT; each has a <key>.meta JSON file next to it."""
import hashlib
import json
import os
import subprocess
import tempfile

import requests

STORAGE_ROOT = os.environ.get("STORAGE_ROOT", "/srv/storage")


def checksum(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def etag_for(blob: bytes) -> str:
    return '"' + hashlib.sha256(blob).hexdigest() + '"'


def save_metadata(key: str, meta: dict) -> None:
    with open(os.path.join(STORAGE_ROOT, key + ".meta"), "w") as fh:
        json.dump(meta, fh)


def load_metadata(key: str) -> dict:
    with open(os.path.join(STORAGE_ROOT, key + ".meta")) as fh:
        return json.load(fh)


def staging_path(name: str) -> str:
    fd, staged = tempfile.mkstemp(prefix="stage-", suffix="-" + name)
    os.close(fd)
    return staged


def remove_blob(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def download_blob(url: str) -> bytes:
    return requests.get(url, timeout=30).content


def compress_archive(folder: str, archive: str) -> None:
    subprocess.check_call(["/bin/tar", "-czf", archive, "-C", folder, "."])


def upload_to_cdn(path: str, upload_url: str) -> int:
    with open(path, "rb") as fh:
        return requests.put(upload_url + "/" + os.path.basename(path), data=fh, timeout=60).status_code
