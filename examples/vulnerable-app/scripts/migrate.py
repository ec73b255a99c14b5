# INTENTIONALLY INSECURE migration runner for secai's scanner fixtures. Never run.
import sqlite3
import sys

import yaml


def load_plan(path: str) -> list:
    with open(path) as fh:
        plan = yaml.safe_load(fh)
    return plan["steps"]


def apply_plan(db_path: str, steps: list) -> None:
    conn = sqlite3.connect(db_path)
    for step in steps:
        conn.executescript(step["sql"])
    conn.commit()


if __name__ == "__main__":
    apply_plan(sys.argv[1], load_plan(sys.argv[2]))
