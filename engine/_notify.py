"""Notifications: one per problem, not one per attempt.

The store's partial unique index allows a single unread notification per (connection,
entity, record) — connection-level problems use empty entity and record. Raising one while
an unread one exists does nothing; once read, the next failure raises a new one.

Every raise is also offered to the business's webhooks, in the same transaction, so the app
hears of the problem from every code path that notifies a person.
"""

from __future__ import annotations

from ._db import AsyncDB
from ._models import Entity
from ._webhooks import raise_for_notice


async def raise_notification(
    db: AsyncDB,
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
    # The conflict target is the partial UNIQUE index: one unread notice per problem.
    added = await (await db.execute(
        "INSERT INTO notifications "
        "(connection_id, entity, record_id, kind, title, message, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (connection_id, entity, record_id) WHERE read_at IS NULL DO NOTHING "
        "RETURNING id",
        (connection_id, entity.value if entity else "", record_id or "", kind, title, message,
         now),
    )).fetchone()
    await raise_for_notice(db, connection_id, entity, record_id, kind=kind, title=title,
                           message=message, now=now,
                           notice_id=added[0] if added else None)
    return added is not None
