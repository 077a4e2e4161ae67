"""Notifications: one per problem, not one per attempt.

The store's partial unique index allows a single unread notification per (connection,
entity, record) — connection-level problems use empty entity and record. Raising one while
an unread one exists does nothing; once read, the next failure raises a new one.
"""

from __future__ import annotations

import aiosqlite

from ._models import Entity


async def raise_notification(
    db: aiosqlite.Connection,
    connection_id: int,
    entity: Entity | None,
    record_id: str | None,
    *,
    kind: str,
    title: str,
    message: str,
    now: str,
) -> bool:
    """Add a notification unless an unread one exists for the same problem; True if added."""
    cursor = await db.execute(
        "INSERT OR IGNORE INTO notifications "
        "(connection_id, entity, record_id, kind, title, message, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (connection_id, entity.value if entity else "", record_id or "", kind, title, message,
         now),
    )
    return cursor.rowcount == 1
