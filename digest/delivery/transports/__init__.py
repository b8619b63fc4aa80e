"""The relay port (base) and one module per adapter: file, memory, SMTP; factory chooses."""
