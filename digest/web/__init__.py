"""The web layer: editors' preview and approval, subscribers' pages (FastAPI)."""
