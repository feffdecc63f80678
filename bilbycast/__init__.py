"""bilbycast-manager: the control plane for bilbycast edges, relays and gateway sidecars."""

__version__ = "1.0.0"
