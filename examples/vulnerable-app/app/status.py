# INTENTIONALLY INSECURE status page for secai's scanner fixtures. Never deploy.
import json
import os
import subprocess
import tempfile

from flask import Flask, render_template_string, request

status = Flask(__name__)

CACHE_FILE = os.path.join(tempfile.gettempdir(), "status-cache.json")


def uptime() -> str:
    return subprocess.run(["/usr/bin/uptime", "-p"], capture_output=True, text=True, check=False).stdout.strip()


def load_cache() -> dict:
    try:
        with open(CACHE_FILE) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


@status.route("/status")
def show_status():
    return {"uptime": uptime(), "version": os.environ.get("APP_VERSION", "dev"), **load_cache()}


@status.route("/status/banner")
def banner():
    return render_template_string("<div class=banner>{{ msg }}</div>", msg=request.args.get("msg", ""))


if __name__ == "__main__":
    status.run(host=os.environ.get("STATUS_HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5004")))
