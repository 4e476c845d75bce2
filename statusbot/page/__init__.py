"""The status page: a snapshot of the store, rendered to static files (HTML, JSON, Atom)."""
