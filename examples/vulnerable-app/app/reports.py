# INTENTIONALLY INSECURE reports service for secai's scanner fixtures. Never deploy.
import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
import tempfile

import requests
import yaml
from flask import Flask, abort, render_template_string, request

reports = Flask(__name__)

RATES_URL = "https://rates.example.com/latest"
REPORTS_DB_PASSWORD = os.environ["REPORTS_DB_PASSWORD"]
EXPORT_DIR = os.path.join(tempfile.gettempdir(), "report-exports")


def db():
    return sqlite3.connect("reports.db")


def warehouse_dsn() -> str:
    return f"postgresql://reports:{REPORTS_DB_PASSWORD}@warehouse.example.com/reports"


def require_viewer(user) -> None:
    if not getattr(user, "can_view_reports", False):
        abort(403)


def load_template(raw: str) -> dict:
    return yaml.safe_load(raw)


def fetch_exchange_rates() -> dict:
    return requests.get(RATES_URL, timeout=10).json()


def fetch_logo(url: str) -> bytes:
    return requests.get(url, timeout=10).content


def export_path(report: str) -> str:
    return f"{EXPORT_DIR}/{report}.csv"


@reports.route("/reports/title")
def report_title():
    title = request.args.get("title", "Monthly report")
    return render_template_string("<h1>{{ title }}</h1>", title=title)


@reports.route("/reports/monthly")
def monthly_totals():
    month = request.args.get("month", "")
    cur = db().cursor()
    cur.execute("SELECT account, SUM(total) FROM ledger WHERE month = ? GROUP BY account", (month,))
    return {row[0]: row[1] for row in cur.fetchall()}


def pdf_scratch() -> str:
    handle, path = tempfile.mkstemp(suffix=".pdf")
    os.close(handle)
    return path


def cleanup_scratch(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def render_pdf(html_path: str, out_path: str) -> None:
    subprocess.call(["/usr/bin/wkhtmltopdf", html_path, out_path])


def load_cached_rows(blob: bytes) -> list:
    return json.loads(blob)


def cache_key(report: str, params: dict) -> str:
    raw = report + "?" + "&".join(f"{k}={params[k]}" for k in sorted(params))
    return hashlib.md5(raw.encode(), usedforsecurity=False).hexdigest()  # nosemgrep: python-weak-hash-md5 -- cache key, not security


if __name__ == "__main__":
    reports.run(host="127.0.0.1", port=5002)
