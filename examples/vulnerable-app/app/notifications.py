# INTENTIONALLY INSECURE notification helpers for secai's scanner fixtures. Never deploy.
import hashlib
import logging
import os
import secrets
import smtplib
import string
from email.message import EmailMessage

import requests

SMS_GATEWAY_URL = "https://sms.example.com/v1/messages"
TEMPLATE_URL = "https://templates.example.com/notifications/"
SMTP_HOST = "smtp.example.com"
SMTP_USER = "notifications@example.com"
SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")

logger = logging.getLogger(__name__)


def send_sms(number: str, text: str) -> int:
    response = requests.post(SMS_GATEWAY_URL, json={"to": number, "text": text}, timeout=10)
    return response.status_code


def send_email(to: str, subject: str, body: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SMTP_USER, to, subject
    msg.set_content(body)
    try:
        with smtplib.SMTP(SMTP_HOST, 587) as smtp:
            smtp.starttls()
            smtp.login(SMTP_USER, SMTP_PASSWORD)
            smtp.send_message(msg)
    except smtplib.SMTPException:
        logger.warning("email to %s failed", to, exc_info=True)


def fetch_template(name: str) -> str:
    return requests.get(TEMPLATE_URL + name, timeout=10).text


def post_webhook(url: str, payload: dict) -> bool:
    reply = requests.post(url, json=payload, timeout=5)
    return reply.ok


def invite_code(length: int = 8) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def dedupe_key(channel: str, recipient: str, text: str) -> str:
    raw = "|".join((channel, recipient, text)).encode()
    return hashlib.sha256(raw).hexdigest()
