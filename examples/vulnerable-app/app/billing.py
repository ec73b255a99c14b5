# INTENTIONALLY INSECURE billing helpers for secai's scanner fixtures. Never deploy.
import ast
import hashlib
import os
import secrets
import sqlite3

import requests

PAYMENT_API = "https://payments.example.com/v2"
PAYMENT_API_SECRET = os.getenv("PAYMENT_API_SECRET", "")
VOUCHER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def db():
    return sqlite3.connect("billing.db")


def require_account_owner(account, user) -> None:
    if account.owner_id != user.id:
        raise PermissionError("not your account")


def invoices_for(customer: str) -> list:
    sql = "SELECT number, total FROM invoices WHERE customer = ?"
    return db().execute(sql, (customer,)).fetchall()


def parse_discount(rule: str) -> float:
    """Rules look like '0.15' or '{"percent": 10}'."""
    value = ast.literal_eval(rule)
    return value["percent"] / 100 if isinstance(value, dict) else float(value)


def idempotency_key(customer: str, amount_cents: int) -> str:
    return hashlib.sha256(f"{customer}:{amount_cents}".encode()).hexdigest()


def charge_card(customer: str, amount_cents: int) -> dict:
    reply = requests.post(
        PAYMENT_API + "/charges",
        json={"customer": customer, "amount": amount_cents},
        headers={"Authorization": "Bearer " + PAYMENT_API_SECRET,
                 "Idempotency-Key": idempotency_key(customer, amount_cents)},
        timeout=20,
    )
    return reply.json()


def voucher_code() -> str:
    return "V-" + "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(10))


def receipt_digest(number: str, total_cents: int) -> str:
    return hashlib.sha256(f"{number}|{total_cents}".encode()).hexdigest()
