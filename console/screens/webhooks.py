"""The webhook delivery log: what the business's app was told, newest first, and whether it
took it (`syncdesk webhook deliveries` prints the same)."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from engine import DeliveryStatus, WebhookDelivery

from ..format import ago, plain
from ..keymap import bind
from ..widgets.table import Row
from .base import ListScreen

COLUMNS: list[tuple[str, str, int | None]] = [
    ("when", "when", 8),
    ("event", "event", 26),
    ("subject", "record", 24),
    ("status", "status", 10),
    ("tries", "tries", 5),
    ("url", "endpoint", 30),
    ("error", "last error", 100),
]

_STYLE = {DeliveryStatus.PENDING: "yellow", DeliveryStatus.DELIVERED: "green",
          DeliveryStatus.FAILED: "bold red"}


class WebhooksScreen(ListScreen):
    TITLE = "Webhook deliveries"
    BINDINGS = [bind("back")]
    COLUMNS = COLUMNS
    NARROW = ("when", "event", "subject", "status", "error")
    TABLE_ID = "deliveries"

    def __init__(self) -> None:
        super().__init__()
        self.deliveries: list[WebhookDelivery] = []

    async def read(self) -> None:
        self.deliveries = await self.syncdesk.service.webhook_deliveries()

    def rows(self, now: datetime) -> list[Row]:
        return [(str(d.id), [
            Text(ago(d.created_at, now)),
            plain(d.kind.value),
            plain(f"{d.entity.label} {d.record_id}" if d.entity
                  else f"connection {d.connection_id}"),
            plain(d.status.value, _STYLE[d.status]),
            plain(d.attempts),
            plain(d.url),
            plain(d.last_error or ""),
        ]) for d in self.deliveries]
