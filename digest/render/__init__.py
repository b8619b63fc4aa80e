"""Rendering: views of the items, Jinja -> MJML -> premailer once per variant."""

MAX_HTML_BYTES = 100_000  # Gmail clips a message whose HTML is above ~102 KB
