# INTENTIONALLY INSECURE partner sync for secai's scanner fixtures. Never deploy.
import ast
import hashlib
import json
import os
import random
import time
from pathlib import Path

import jwt
import requests
import yaml

PARTNER_API = os.environ.get("PARTNER_API", "https://partner.example.com/api")
PARTNER_API_TOKEN = os.environ["PARTNER_API_TOKEN"]
CURSOR_FILE = Path("sync.cursor")
PARTNER_PUBLIC_KEY = os.environ.get("PARTNER_PUBLIC_KEY", "")


def auth_headers() -> dict:
    return {"Authorization": "Bearer " + PARTNER_API_TOKEN}


def fetch_partner_feed(since: str) -> list:
    resp = requests.get(
        PARTNER_API + "/feed",
        params={"since": since},
        headers=auth_headers(),
        timeout=30,
    )
    return resp.json()["items"]


def push_orders(orders: list) -> None:
    for order in orders:
        requests.post(PARTNER_API + "/orders", json=order, headers=auth_headers(), timeout=15)


def backoff_delay(attempt: int) -> float:
    return min(60, 2 ** attempt) + random.uniform(0, 1)  # nosec B311 - retry jitter, not a secret


def save_cursor(cursor: dict) -> None:
    CURSOR_FILE.write_text(json.dumps(cursor))


def restore_cursor() -> dict:
    return json.loads(CURSOR_FILE.read_text())


def read_mapping_file(path: str) -> dict:
    return yaml.safe_load(Path(path).read_text())


def parse_mapping_rule(rule: str):
    return ast.literal_eval(rule)


def payload_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def verify_partner_token(token: str) -> dict:
    return jwt.decode(token, PARTNER_PUBLIC_KEY, algorithms=["RS256"])


def run_once(since: str) -> None:
    for attempt in range(5):
        try:
            push_orders(fetch_partner_feed(since))
            return
        except requests.RequestException:
            time.sleep(backoff_delay(attempt))
