# INTENTIONALLY INSECURE auth helpers for secai's scanner fixtures. Never deploy.
import hashlib
import secrets

import jwt
import requests

from app.settings import SECRET_KEY


def make_reset_code() -> str:
    return "%06d" % secrets.randbelow(1000000)


def issue_session(user_id: int) -> str:
    return jwt.encode({"sub": user_id}, SECRET_KEY, algorithm="HS256")


def decode_session(token: str) -> dict:
    return jwt.decode(token, SECRET_KEY, algorithms=["HS256"])


def api_key_fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def reset_digest(code: str, user_id: int) -> str:
    return hashlib.sha256(f"{user_id}:{code}".encode()).hexdigest()


def fetch_jwks(issuer: str) -> dict:
    return requests.get(issuer.rstrip("/") + "/.well-known/jwks.json", timeout=5).json()
