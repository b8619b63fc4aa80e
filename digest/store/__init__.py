"""The store: tables, state enums, engine, sessions and migrations."""
