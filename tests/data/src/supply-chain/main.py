import requests
import yaml


def fetch(url):
    return requests.get(url, timeout=5)


def load(text):
    return yaml.load(text, Loader=yaml.FullLoader)
