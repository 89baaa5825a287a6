"""Small pieces of state that must survive a restart, by key (table `state`): the one way to keep them.

Who owns which key: the risk engine `halted` and `pause` (the trading state), the preferences
`settings` and `presets`, the deposit bridge `deposits` (its journal of bridge transfers,
tenant_bot/execution/deposits.py). Values are JSON.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from tenant_bot.storage.models import KeyValue


class KeyValueStore:
    def __init__(self, db: sessionmaker[Session]) -> None:
        self._db = db

    def get(self, key: str) -> Any:
        """The value stored under `key`, or None."""
        with self._db() as s:
            row = s.get(KeyValue, key)
            return None if row is None else row.value

    def set(self, key: str, value: Any) -> None:
        """Store `value` under `key` (committed before it returns)."""
        with self._db() as s:
            row = s.get(KeyValue, key)
            if row is None:
                s.add(KeyValue(key=key, value=value))
            else:
                row.value = value
            s.commit()
