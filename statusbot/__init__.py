"""statusbot: tells customers about an outage before they have to complain about it."""

__version__ = "0.1.0"
