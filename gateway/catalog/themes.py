"""``themes.list`` and ``update.status``: OpenClaw 2026.9.6's answers for a gateway that
ships only the Control UI's built-in themes and does not update itself."""

from __future__ import annotations

from typing import Any

DEFAULT_THEME = "claw"

# OpenClaw's BUILTIN_THEMES (src/ui theme catalog), as themes.list describes them: the UI
# bundles their palettes, the gateway only names them. No plugin or imported themes here.
_BUILTIN: tuple[tuple[str, str, str], ...] = (
    ("claw", "Claw", "Signature coral red and teal on charcoal or pale surfaces, with Instrument Sans throughout. A balanced everyday workspace."),
    ("knot", "Knot", "Crimson accents on true black or clean white, with Geist typography. Sharp, minimal, and high contrast."),
    ("dash", "Dash", "Toasted caramel on deep cocoa or warm cream, with DM Sans controls and Fraunces serif chat. Warm and bookish."),
    ("absolutely", "Absolutely", "Terracotta clay on warm graphite or soft cream, with Space Grotesk controls and Lora serif chat. Quiet editorial character."),
    ("tide", "Tide", "Steel cyan on cool slate or pale blue-gray, with IBM Plex Sans throughout. Calm, technical, and understated."),
    ("beacon", "Beacon", "High-visibility amber on black or white, bold focus rings, and Atkinson Hyperlegible typography. Designed for maximum readability."),
    ("phosphor", "Phosphor", "Luminous green on green-tinted black or pale green, with JetBrains Mono throughout. A classic green terminal atmosphere."),
    ("crt", "CRT", "White phosphor and amber on tube black, with a light counterpart, JetBrains Mono, and nearly square corners. A retro computer console."),
    ("manuscript", "Manuscript", "Lapis blue and gold on aged paper, with a dark reading-room variant and Lora serif throughout. A quiet illuminated manuscript."),
    ("rose", "Rosé", "Dried rose and gold on deep plum-gray or soft rose-tinted cream, with DM Sans. Gentle, muted, and warm."),
    ("miami", "Miami", "Hot magenta and cyan on violet-black or pale lavender, with Space Grotesk. Bright neon energy and a synthwave character."),
)  # fmt: skip


def _descriptor(theme_id: str, name: str, description: str) -> dict[str, Any]:
    return {
        "id": theme_id,
        "name": name,
        "description": description,
        "source": "builtin",
        "modes": ["light", "dark"],
    }


def themes_list() -> dict[str, Any]:
    """Return ``themes.list``: the built-in themes and the gateway-wide selection.

    There are no per-person profiles here, so the selection is OpenClaw's gateway scope
    with no overrides: its default theme in the system's light or dark mode.
    """
    themes = [_descriptor(*entry) for entry in _BUILTIN]
    return {
        "current": {"id": DEFAULT_THEME, "mode": "system", "scope": "gateway", "overrides": {}},
        "theme": themes[0],
        "themes": themes,
    }


def update_status() -> dict[str, Any]:
    """Return ``update.status`` for a gateway that never updates itself.

    It is installed as a package and updated by its operator (pip, the container image),
    so there is no update run, no restart sentinel, no known newer version and automatic
    updates are off: OpenClaw's shape for a package install with nothing to do.
    """
    return {
        "sentinel": None,
        "updateAvailable": None,
        "effectiveChannel": "stable",
        "schedule": {"channel": "stable", "autoEnabled": False, "install": {"kind": "package"}},
    }
