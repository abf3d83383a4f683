"""The web side's last line: no response carries this installation's secrets.

What the API and the pages show was cleaned when it entered the store; this
scrubs every text response (JSON, HTML, /metrics) once more, as sent, for what
came by another road (a row written before redaction existed, a Docker error on
the status page, a template that prints a setting). The redactor knows each
secret as JSON and HTML would encode it, so a substring test on the body is enough.
"""

from __future__ import annotations

from flask import Flask, Response

from healer.redactor import Redactor

TEXT_TYPES = ("application/json", "text/")


def init_app(app: Flask, redactor: Redactor) -> None:
    if not redactor.forms:
        return

    @app.after_request
    def scrub_body(response: Response) -> Response:
        if response.is_streamed or response.direct_passthrough:
            return response
        if not (response.mimetype or "").startswith(TEXT_TYPES):
            return response
        body = response.get_data(as_text=True)
        scrubbed = redactor.scrub(body)
        if scrubbed != body:
            response.set_data(scrubbed)  # also sets Content-Length
        return response
