"""The transaction handle's core (connection, write guard) and helpers shared by its parts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, select
from sqlalchemy.dialects.sqlite import insert

from statusbot.store import tables as t
from statusbot.store.codec import unique
from statusbot.store.errors import StoreError


class TxBase:
    """Holds the connection of one transaction; write methods call ``_require_write`` first."""

    def __init__(
        self,
        conn: Connection,
        *,
        writable: bool,
        check_keys: Mapping[str, tuple[int, str]] | None = None,
    ) -> None:
        self._conn = conn
        self._writable = writable
        # check_key rows the store knew before this transaction (name → (id, component id)),
        # and what this one found or made; the store keeps ``learned`` once it commits
        self._check_keys: Mapping[str, tuple[int, str]] = check_keys or {}
        self.learned: dict[str, tuple[int, str]] = {}

    @property
    def writable(self) -> bool:
        return self._writable

    def _require_write(self) -> None:
        if not self._writable:
            raise StoreError("this is a read transaction: use store.write() to change data")

    # --- shared helpers ----------------------------------------------------------------------

    def _ensure_components(self, ids: Iterable[str]) -> None:
        """Make sure components exist (unknown ones get a row named by id, not configured).

        Lets results, transitions and incidents name a component that config has not synced
        (yet, or any more) without breaking the foreign keys.
        """
        rows = [
            {
                "id": cid,
                "name": cid,
                "group_name": None,
                "description": None,
                "position": 0,
                "configured": 0,
            }
            for cid in unique(ids)
        ]
        if rows:
            self._conn.execute(insert(t.component).on_conflict_do_nothing(), rows)

    def _component_names(self, ids: Iterable[str]) -> dict[str, str]:
        """Display names by component id (the id itself when unknown or unnamed)."""
        wanted = unique(ids)
        found: dict[str, str] = dict(
            self._conn.execute(
                select(t.component.c.id, t.component.c.name).where(t.component.c.id.in_(wanted))
            ).all()
        )
        return {cid: found.get(cid) or cid for cid in wanted}

    def _meta(self, name: str, default: int) -> int:
        value = self._conn.execute(
            select(t.meta.c.value).where(t.meta.c.name == name)
        ).scalar_one_or_none()
        return default if value is None else int(value)

    def _set_meta(self, name: str, value: int) -> None:
        stmt = insert(t.meta).values(name=name, value=value)
        self._conn.execute(
            stmt.on_conflict_do_update(index_elements=["name"], set_={"value": stmt.excluded.value})
        )
