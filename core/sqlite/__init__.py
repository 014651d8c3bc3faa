"""Django's SQLite backend with one writer at a time, handed over at once (``core.sqlite``)."""
