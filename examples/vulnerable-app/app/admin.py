# INTENTIONALLY INSECURE admin console for secai's scanner fixtures. Never deploy.
import ast
import os
import secrets
import sqlite3
import string
import subprocess

import requests
import yaml
from flask import Flask, jsonify, render_template_string, request

admin = Flask(__name__)

UPSTREAM_STATUS_URL = "https://status.example.com/api/v1/summary"


def db():
    return sqlite3.connect("admin.db")


def require_admin(user) -> None:
    if not user.is_admin:
        raise PermissionError("admins only")


@admin.route("/admin/")
def welcome():
    return render_template_string("<h1>Admin: {{ user }}</h1>", user=request.args.get("user", ""))


@admin.route("/admin/settings", methods=["POST"])
def import_settings():
    settings = yaml.safe_load(request.data)
    return jsonify(sorted(settings))


@admin.route("/admin/users.csv")
def export_users():
    team = request.args.get("team", "")
    rows = db().execute("SELECT id, email FROM users WHERE team = ?", (team,)).fetchall()
    return "\n".join(f"{row[0]},{row[1]}" for row in rows)


def parse_filter(raw: str) -> dict:
    rule = ast.literal_eval(raw or "{}")
    return {key: str(value) for key, value in rule.items()}


@admin.route("/admin/backup", methods=["POST"])
def trigger_backup():
    target = request.form.get("target", "nightly")
    subprocess.run(["/usr/local/bin/backup-db", "--target", target], check=True)
    return "started"


def git_revision() -> str:
    out = subprocess.run(["/usr/bin/git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip()


@admin.route("/admin/version")
def version():
    return jsonify(revision=git_revision())


def temp_password(length: int = 14) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def check_upstream() -> bool:
    return requests.get(UPSTREAM_STATUS_URL, timeout=5).ok


@admin.route("/admin/audit")
def search_audit_log():
    actor = request.args.get("actor", "")
    query = "SELECT at, action FROM audit_log WHERE actor = ? ORDER BY at DESC"
    return jsonify(db().execute(query, (actor,)).fetchall())


if __name__ == "__main__":
    admin.run(
        host=os.environ.get("ADMIN_HOST", "127.0.0.1"),
        port=5001,
        debug=os.environ.get("ADMIN_DEBUG") == "1",
    )
