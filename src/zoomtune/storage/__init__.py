"""Storages: in-memory, SQLite and PostgreSQL behind one interface (and any of them served to other
processes on this machine: `StorageServer`, `ServedStorage`).

>>> from zoomtune.storage import get_storage
>>> get_storage(None).url
'memory'
"""

from __future__ import annotations

from zoomtune.storage.base import AttrScope, FinishedTrial, Storage, StorageFailure, StorageFault
from zoomtune.storage.memory import InMemoryStorage
from zoomtune.storage.served import ServedStorage, StorageServer

DEFAULT_CLI_STORAGE = "sqlite:///zoomtune.db"


def get_storage(storage: str | Storage | None) -> Storage:
    """A storage from a URL (``sqlite:///file.db``, ``postgresql+psycopg://...``), an instance, or None (memory)."""
    if storage is None:
        return InMemoryStorage()
    if isinstance(storage, Storage):
        return storage
    if storage == "memory":
        return InMemoryStorage()
    from zoomtune.storage.sql import SQLStorage  # SQLAlchemy loads only when a URL asks for it

    return SQLStorage(storage)


__all__ = ["DEFAULT_CLI_STORAGE", "AttrScope", "FinishedTrial", "InMemoryStorage", "ServedStorage", "Storage",
           "StorageFailure", "StorageFault", "StorageServer", "get_storage"]
