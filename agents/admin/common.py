"""What the agents admin modules share."""

from __future__ import annotations

STRING_LIST_HELP = "A JSON list of strings, e.g. {example}; [] for none."
