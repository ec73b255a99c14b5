# INTENTIONALLY INSECURE webhook receiver for secai's scanner fixtures. Never deploy.
import hashlib
import hmac
import json
import os

import jwt
from flask import Flask, abort, request

hooks = Flask(__name__)

HOOK_SECRET = os.environ.get("HOOK_SECRET", "")


def signature_ok(body: bytes, signature: str) -> bool:
    expected = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def read_claims(token: str) -> dict:
    return jwt.decode(token, HOOK_SECRET, algorithms=["HS256"])


def replay_event(blob: bytes) -> dict:
    return json.loads(blob)


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
