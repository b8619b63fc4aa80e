"""The audience: CSV import and subscribers' self-service (sign-up, confirm, language, leave)."""
