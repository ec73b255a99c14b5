import subprocess


def run(a, b):
    subprocess.call(a, shell=True); subprocess.call(b, shell=True)


def check(x, y):
    assert x; assert y
