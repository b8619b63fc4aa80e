"""digest: bilingual research digest."""
