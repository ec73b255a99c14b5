# INTENTIONALLY INSECURE status page for secai's scanner fixtures. Never deploy.
import os
import subprocess

from flask import Flask

status = Flask(__name__)


def uptime() -> str:
    return subprocess.run(["uptime", "-p"], capture_output=True, text=True, check=False).stdout.strip()


@status.route("/status")
def show_status():
    return {"uptime": uptime(), "version": os.environ.get("APP_VERSION", "dev")}


if __name__ == "__main__":
    status.run(host=os.environ.get("STATUS_HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5004")))
