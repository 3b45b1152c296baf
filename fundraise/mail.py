"""Outgoing e-mail over SMTP (infrastructure): notices and receipts are written by services, sent here."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from flask import current_app

from fundraise.text_input import one_line


def configured() -> bool:
    """Whether there is anywhere to send to (SMTP_HOST); without it the pages hold everything instead."""
    return bool(current_app.config.get("SMTP_HOST"))


def message(to: str, subject: str, body: str) -> EmailMessage:
    """A plain-text message from the platform's sender. The subject is made one line: a title stored before
    single-line fields were enforced may hold a line break, which a header refuses."""
    mail = EmailMessage()
    mail["From"] = current_app.config["SMTP_SENDER"]
    mail["To"] = to
    mail["Subject"] = one_line(subject)
    mail.set_content(body)
    return mail


def send(mail: EmailMessage) -> None:
    config = current_app.config
    with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=30) as smtp:
        if config.get("SMTP_USER"):
            smtp.starttls()
            smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"] or "")
        smtp.send_message(mail)
