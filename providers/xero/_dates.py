"""Xero's two date forms: Microsoft JSON `/Date(ms+0000)/` in answers, YYYY-MM-DD in requests.

Xero accepts either form in request bodies and always answers with the Microsoft form (plus a
`DateString` beside the document date), so both the client and the sandbox read and write it.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def parse_ms_date(value: str) -> datetime:
    """`/Date(1552262400000+0000)/` as an aware UTC datetime (Xero's offset is always +0000)."""
    match = _MS_DATE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not a Microsoft JSON date: {value!r}")
    return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)


def parse_wire_date(value: str) -> date:
    """A request date in either form; Xero also accepts a full ISO timestamp."""
    value = value.strip()
    if value.startswith("/Date("):
        return parse_ms_date(value).date()
    return date.fromisoformat(value[:10])


def ms_date(moment: date | datetime, *, offset: bool = True) -> str:
    """The Microsoft form; document dates carry `+0000`, envelope `DateTimeUTC` does not."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    millis = int(moment.timestamp() * 1000)
    return f"/Date({millis}+0000)/" if offset else f"/Date({millis})/"


def date_string(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"
