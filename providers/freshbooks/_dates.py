"""FreshBooks' clock: accounting timestamps are naive `YYYY-MM-DD HH:MM:SS` in US/Eastern.

The accounting API reports `updated`, `created_at` and `signup_date` in the zone of its
servers (America/New_York, daylight saving included), with no offset in the text
(PLATFORMS.md §4.1, the nodejs SDK guide). Inside syncdesk every time is aware UTC, so both
the client and the sandbox convert here and nowhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")
_FORMAT = "%Y-%m-%d %H:%M:%S"


def parse_eastern(text: str) -> datetime:
    """`2020-11-16 21:27:03` (Eastern) as an aware UTC datetime."""
    naive = datetime.strptime(text.strip(), _FORMAT)
    return naive.replace(tzinfo=EASTERN).astimezone(UTC)


def eastern(moment: datetime) -> str:
    """An aware datetime the way FreshBooks writes it."""
    return moment.astimezone(EASTERN).strftime(_FORMAT)
