# INTENTIONALLY INSECURE Flask app for secai's scanner fixtures. Never deploy.
import hashlib
import os
import pickle
import sqlite3
import subprocess

import requests
import yaml
from flask import Flask, request, render_template_string

from app.settings import DATABASE_PASSWORD

app = Flask(__name__)


def db():
    return sqlite3.connect("users.db")


@app.route("/user")
def get_user():
    name = request.args.get("name", "")
    cur = db().cursor()
    cur.execute("SELECT * FROM users WHERE name = '%s'" % name)
    return str(cur.fetchall())


@app.route("/search")
def search():
    term = request.args.get("q", "")
    query = "SELECT id FROM items WHERE title LIKE '%" + term + "%'"
    return str(db().execute(query).fetchall())


@app.route("/ping")
def ping():
    host = request.args.get("host", "localhost")
    return subprocess.check_output("ping -c 1 " + host, shell=True)


@app.route("/files")
def list_files():
    folder = request.args.get("dir", ".")
    return os.popen("ls -la " + folder).read()


@app.route("/config", methods=["POST"])
def load_config():
    return str(yaml.load(request.data))


@app.route("/session", methods=["POST"])
def restore_session():
    return str(pickle.loads(request.data))


@app.route("/hello")
def hello():
    return render_template_string("<p>Hello " + request.args.get("name", "") + "</p>")


@app.route("/calc")
def calc():
    return str(eval(request.args.get("expr", "1+1")))


def hash_password(password: str) -> str:
    return hashlib.md5(password.encode()).hexdigest()


def token_for(user: str) -> str:
    return hashlib.sha1(user.encode()).hexdigest()


def fetch_profile(url: str) -> str:
    return requests.get(url, verify=False).text


def fetch_avatar(url: str) -> bytes:
    return requests.get(url, verify=False, timeout=5).content


def connect():
    return sqlite3.connect("users.db", check_same_thread=False), DATABASE_PASSWORD


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000, debug=True)
