# INTENTIONALLY INSECURE webhook receiver for secai's scanner fixtures. Never deploy.
import hashlib
import hmac
import json
import os
import tempfile

import jwt
import requests
from flask import Flask, abort, render_template_string, request

hooks = Flask(__name__)

HOOK_SECRET = os.environ.get("HOOK_SECRET", "")
SPOOL_DIR = os.path.join(tempfile.gettempdir(), "hooks-spool")


def signature_ok(body: bytes, signature: str) -> bool:
    expected = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def read_claims(token: str) -> dict:
    return jwt.decode(token, HOOK_SECRET, algorithms=["HS256"])


def replay_event(blob: bytes) -> dict:
    return json.loads(blob)


def spool_path(event_id: str) -> str:
    return os.path.join(SPOOL_DIR, event_id + ".json")


def fetch_schema(source: str) -> bytes:
    return requests.get(f"https://schemas.example.com/hooks/{source}.json", timeout=10).content


@hooks.route("/hooks/")
def index():
    source = request.args.get("source", "all")
    return render_template_string("<p>Webhooks for {{ source }}</p>", source=source)


@hooks.route("/hooks/<source>", methods=["POST"])
def receive(source: str):
    if not signature_ok(request.data, request.headers.get("X-Signature", "")):
        abort(401)
    claims = read_claims(request.headers.get("X-Hook-Token", ""))
    if claims.get("src") != source:
        abort(403)
    return {"ok": True}


if __name__ == "__main__":
    hooks.run("127.0.0.1", 5003)
