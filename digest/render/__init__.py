"""Rendering: views of the items, Jinja -> MJML -> premailer once per variant."""

# The size check's limit, and the one the renderer is tested against: Gmail clips HTML above
# ~102 KB, and the margin keeps a variant that passes clear of it.
MAX_HTML_BYTES = 100_000
