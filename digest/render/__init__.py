"""Rendering: views of the items, Jinja -> MJML -> premailer once per variant."""
