"""The command palette's operator commands (ctrl+p): per connection, per record, go-to.

A read-only console lists only the commands that change nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher
from textual.markup import escape

from engine import ConnectionSummary, JobFilter

from ._names import PLATFORM_NAMES
from .format import describe
from .screens.webhooks import WebhooksScreen

if TYPE_CHECKING:
    from .app import SyncdeskApp


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[[], object]
    writes: bool = True


class OperatorCommands(Provider):
    async def startup(self) -> None:
        self._connections = await self._app.service.connections()

    @property
    def _app(self) -> SyncdeskApp:
        return cast("SyncdeskApp", self.app)

    def _commands(self) -> Iterator[Command]:
        app = self._app
        yield Command("Connections", "List connections: connect, pause, purge, accounts",
                      app.action_connections, writes=False)
        yield Command("Problems", "Everything that needs a person, grouped; retry a group",
                      app.action_problems, writes=False)
        yield Command("Notifications", "Open the notification feed",
                      app.action_notifications, writes=False)
        yield Command("Businesses", "Every business, the most trouble first; choose which "
                      "one the screens show", app.action_businesses, writes=False)
        yield Command("Webhook deliveries", "What the business's app was told, and whether "
                      "it took it", partial(app.push_screen, WebhooksScreen()), writes=False)
        yield Command("Drift", "What the last audit found differing between the ledger and "
                      "the platforms", app.action_drift, writes=False)
        current = getattr(self.screen, "current_job", None)
        job = current() if callable(current) else None
        if job is not None:
            yield Command(f"Resync {job.label}", f"Push {job.entity.label} {job.label} to "
                          f"{job.platform} again", lambda: app.resync(job.id, job.label))
            yield Command(f"Re-link {job.label}", "Forget the remote link: find it by number "
                          "or re-create it", lambda: app.relink(job.id, job.label))
        for connection in self._connections:
            yield from _connection_commands(app, connection)
        for platform in PLATFORM_NAMES:
            yield Command(f"Connect {platform}", f"Connect a {platform} organisation",
                          partial(app.connect, platform))

    def _allowed(self) -> Iterator[Command]:
        return (c for c in self._commands() if not (c.writes and self._app.read_only))

    # The palette reads a str prompt and every help as markup; names and labels are not.
    async def discover(self) -> Hits:
        for command in self._allowed():
            yield DiscoveryHit(Content(command.name), command.run, text=command.name,
                               help=escape(command.help))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._allowed():
            score = matcher.match(command.name)
            if score > 0:
                yield Hit(score, _highlight(matcher, command.name), command.run,
                          text=command.name, help=escape(command.help))


def _highlight(matcher: Matcher, name: str) -> Content:
    """`Matcher.highlight`, minus its markup parsing of the candidate."""
    content = Content(name)
    for offset in matcher.fuzzy_search.match(matcher.query, name)[1]:
        content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


def _connection_commands(app: SyncdeskApp, connection: ConnectionSummary) -> Iterator[Command]:
    name = describe(connection)
    if connection.state == "disconnected":
        return
    failed = JobFilter(connection_id=connection.id, statuses=("failed",))
    yield Command(f"Retry all failed on {name}", "Asks first, with the count",
                  lambda: app.retry_where([failed], f"{name}: {failed.describe()}"))
    verb = "Resume" if connection.state == "paused" else "Pause"
    yield Command(f"{verb} {name}", f"{verb} syncing this connection",
                  lambda: app.toggle_connection(connection))
    yield Command(f"Disconnect {name}", "Stop syncing; keep links and history",
                  lambda: app.disconnect(connection))
    yield Command(f"Purge {name}", "Revoke access and delete links and jobs (asks first)",
                  lambda: app.purge(connection))
