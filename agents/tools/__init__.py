"""The agent's tools: JSON-schema'd, policy filtered, run by the run loop (``agents.services.runs``).

``agents.tools.base`` holds the interface, registry and policy; each module registers
its tools on import (``agents.tools.registry.load_builtin_tools``).
"""
