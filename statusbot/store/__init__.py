"""The storage layer: all of statusbot's SQL, behind ``Store`` (the database) and ``Tx`` (one
transaction). It takes and returns ``statusbot.model`` types, never rows.

    store = Store.open("sqlite:////var/lib/statusbot/statusbot.db")
    with store.write(durable=True) as tx:
        incident = tx.apply(OpenIncident(...), channels=["mastodon", "x"])
"""

from statusbot.store.errors import ChangeRefused, StoreError
from statusbot.store.stats import DayStats, OutboxStats, PruneStats
from statusbot.store.store import Store
from statusbot.store.tx import Tx

__all__ = ["ChangeRefused", "DayStats", "OutboxStats", "PruneStats", "Store", "StoreError", "Tx"]
