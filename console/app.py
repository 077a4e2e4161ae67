"""The syncdesk console: watch and repair the sync, from the keyboard, over SSH.

The app follows the store by polling `event_cursor()` (cheap, and it works when the engine
runs in another process); when it moved, `revision` bumps and the current screen reloads. A
PostgreSQL store also tells of each commit that wrote events (`events_written`), so a change
shows at once and the poll is only a slow fallback.
Apart from that, `now` ticks every second so relative times ("3m ago", "parked in 51s") and
the engine's heartbeat age stay true while nothing in the store moves.
Every operator command goes through `run_command`, so refusals and failures are reported
in one place, and the console refreshes as soon as a command is done. A read-only console
answers every key that would change the store with "read-only: …", never with silence.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from textual import work
from textual.actions import ActionParseResult
from textual.app import App
from textual.content import Content
from textual.dom import DOMNode
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from engine import (
    Choice,
    ConfigError,
    ConnectionSummary,
    EngineBeat,
    EventCursor,
    JobFilter,
    MappingKind,
    NotificationRow,
    SyncdeskError,
    SyncService,
)

from .commands import OperatorCommands
from .format import count, describe, span
from .keymap import KEYS, WRITES, bind
from .screens.businesses import BusinessesScreen
from .screens.connections import ConnectionsScreen
from .screens.dashboard import DashboardScreen
from .screens.drift import DriftScreen
from .screens.modals import ConfirmScreen, HelpLine, HelpScreen
from .screens.notifications import NotificationsScreen
from .screens.problems import ProblemsScreen
from .screens.records import RecordScreen

T = TypeVar("T")

TOASTS_AT_ONCE = 3
"""New problems toasted one by one; past this many, one toast counts the rest."""

LISTENED_POLL = 5.0
"""Seconds between polls when the store tells of its writes: the poll is then only the
engine's heartbeat and a fallback."""

ENGINE_STALE = 30.0
"""Seconds without a heartbeat after which the engine counts as stopped (its lease timeout)."""

FULL_PASS_AFTER = gc.get_threshold()[2]
"""Python's own: a full pass after this many middle ones."""
NEVER = 1 << 30
"""A full-pass threshold allocation never reaches."""

Connect = Callable[[str], Awaitable[str]]
"""Connects a platform (OAuth in a browser, …) and says how it went."""


class SyncdeskApp(App[None]):
    CSS_PATH = Path(__file__).parent / "syncdesk.tcss"
    TITLE = "syncdesk"
    COMMANDS = App.COMMANDS | {OperatorCommands}
    BINDINGS = [
        bind("quit"),
        bind("palette", "command_palette"),
        bind("help"),
        bind("notifications"),
        bind("live", "toggle_live"),
        bind("connections"),
        bind("problems"),
        bind("drift"),
        bind("overview"),
        *(bind(f"platform_{n}", f"platform({n})") for n in range(1, 5)),
    ]

    revision: reactive[int] = reactive(0, init=False)
    """Bumps whenever the store changed (or a command finished): the current screen reloads."""
    unread: reactive[int] = reactive(0, init=False)
    """Unread notifications, shown in the header on every screen."""
    live: reactive[bool] = reactive(True, init=False)
    """Follow the store; `p` pauses it, to read a screen that would otherwise move."""
    busy: reactive[str] = reactive("", init=False)
    """The long command that is running, in words ("" when none): screens show progress."""
    now: reactive[datetime | None] = reactive(None, init=False)
    """The service's clock, read every second: screens re-render relative times from it."""
    heartbeat: reactive[EngineBeat | None] = reactive(None, init=False)
    """When the engine last proved alive, or stopped (None: no engine ever ran here)."""

    def __init__(self, service: SyncService, *, read_only: bool = False,
                 keymap: Mapping[str, str] | None = None,
                 connect: Connect | None = None, poll_interval: float = 0.5) -> None:
        super().__init__()
        self.service = service
        self.read_only = read_only or service.read_only
        service.read_only = self.read_only  # the service refuses too, whatever asks it
        self.poll_interval = poll_interval
        self._connect = connect
        self._user_keymap = dict(keymap or {})
        self._poller: Worker[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._again = False
        self._recheck = False
        self._last_event: EventCursor | None = None
        self._last_note: int | None = None
        self._records = RecordScreen(None, JobFilter())
        self._problems = ProblemsScreen()
        self.business_name: str | None = None
        """The business every screen is scoped to (`choose_business`); None: all."""

    # -- lifecycle ----------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return DashboardScreen()

    def on_mount(self) -> None:
        if self._user_keymap:
            self.set_keymap(self._user_keymap)
        self.now = self.service.clock()
        self.set_interval(1.0, self._tick)
        self.set_interval(max(self.poll_interval, LISTENED_POLL) if self.service.notified
                          else self.poll_interval, self.poll)
        self.poll()
        if self.service.notified:
            # A task, not a worker: it lasts as long as the console, and a worker that never
            # ends would hold every wait for the workers to complete.
            self._listener = asyncio.create_task(self._listen())

    def _tick(self) -> None:
        self.now = self.service.clock()
        self._collect()

    def watch_now(self) -> None:
        self._show_status()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in WRITES and self.read_only)

    async def run_action(self, action: str | ActionParseResult,
                         default_namespace: DOMNode | None = None,
                         namespaces: Mapping[str, DOMNode] | None = None) -> bool:
        # A hidden write binding still receives its key: say why nothing happens.
        _, name, _ = self._parse_action(
            action, self if default_namespace is None else default_namespace, namespaces)
        if self.read_only and name in WRITES:
            self.refuse(KEYS[name].description)
            return True
        return await super().run_action(action, default_namespace, namespaces)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every toast is one line of plain text: messages carry platform text and names
        (`[/Line/0]` is not markup), and a stack of tall toasts would hide the screen."""
        lines = (f"{title}: {message}" if title else message).strip().splitlines() or [""]
        super().notify(lines[0], severity=severity, timeout=timeout, markup=False)

    def refuse(self, what: str) -> None:
        """Answer a change a read-only console will not make."""
        self.notify(f"read-only: {what.lower()} refused (console opened with --read-only)",
                    severity="warning", markup=False)

    # -- following the store ------------------------------------------------------------

    def poll(self, force: bool = False) -> None:
        """Check the event log (in a worker); `force` reloads even if nothing moved."""
        if self._poller is not None and self._poller.is_running:
            self._again = self._again or force
            return
        if self.live or force:
            self._poller = self._check(force)

    async def _listen(self) -> None:
        """Check as soon as a commit wrote events; a failed listener leaves the poll."""
        try:
            async for _ in self.service.events_written():
                if self._poller is not None and self._poller.is_running:
                    self._recheck = True  # the check under way may have read before the commit
                else:
                    self.poll()
        except Exception as exc:
            self.notify(f"live updates stopped ({exc}); checking every {LISTENED_POLL:.0f} s",
                        severity="warning")

    @work(group="poll", exit_on_error=False)
    async def _check(self, force: bool) -> None:
        last = await self.service.event_cursor()
        self.heartbeat = await self.service.engine_heartbeat()
        if last != self._last_event or force:
            first = self._last_event is None
            self._last_event = last
            unread = await self.service.notifications(unread_only=True, limit=50)
            if not first and self._last_note is not None:
                self._announce([n for n in unread if n.id > self._last_note])
            self._last_note = max([n.id for n in unread], default=self._last_note or 0)
            self.unread = await self.service.unread_count()
            self.revision += 1
        if self._again or self._recheck:
            force, self._again, self._recheck = self._again, False, False
            self.call_later(self.poll, force)

    def _announce(self, fresh: list[NotificationRow]) -> None:
        """A toast per new problem, but never a wall of them: the feed holds the rest."""
        shown = list(reversed(fresh))[:TOASTS_AT_ONCE]
        for note in shown:
            self.notify(note.message, title=f"{note.platform}: {note.title}",
                        severity="warning", markup=False)
        if len(fresh) > len(shown):
            self.notify(f"and {len(fresh) - len(shown)} more — press n for the feed",
                        severity="warning", markup=False)

    def watch_unread(self) -> None:
        self._show_status()

    def watch_heartbeat(self) -> None:
        self._show_status()

    def watch_live(self) -> None:
        self._show_status()
        if self.live:
            self.poll()

    def status_parts(self) -> list[tuple[str, str]]:
        """The header's flags, most important first (a narrow header cuts from the right)."""
        parts = []
        if self.read_only:
            parts.append(("READ-ONLY", "bold reverse $warning"))
        if not self.live:
            parts.append(("PAUSED", "bold reverse $warning"))
        if self.business_name is not None:
            parts.append((self.business_name, "bold"))
        parts.append(self._engine_state())
        parts.append((f"{self.unread} unread", "bold $warning" if self.unread else ""))
        return parts

    def _engine_state(self) -> tuple[str, str]:
        if self.heartbeat is None:
            return "engine not running", "bold $text-error"
        age = ((self.now or self.service.clock()) - self.heartbeat.at).total_seconds()
        if age < ENGINE_STALE and not self.heartbeat.stopped:
            return "engine running", "$text-success"
        return f"engine stopped {span(age)} ago", "bold $text-error"

    def _show_status(self) -> None:
        self.sub_title = " · ".join(text for text, _ in self.status_parts())

    def format_title(self, title: str, sub_title: str) -> Content:
        parts: list[Content | tuple[str, str] | str] = []
        for text, style in self.status_parts():
            parts += [(text, style), " · "]
        return Content.assemble(*parts[:-1], ("  │  ", "dim"), Content(title))

    # -- navigation ---------------------------------------------------------------------

    def action_toggle_live(self) -> None:
        self.live = not self.live

    def action_help(self) -> None:
        screen = self.screen
        sections: dict[str, list[HelpLine]] = {}
        title = screen.title or type(screen).__name__.removesuffix("Screen")
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            key = KEYS.get(binding.id or "")
            if key is None or binding.id in seen:
                continue  # Textual's own keys (focus, copy, …): not ours to explain
            seen.add(binding.id or "")
            section = ("Moving around" if key.navigation else
                       "Everywhere" if active.node is self else "This screen")
            sections.setdefault(section, []).append(HelpLine(
                section, self.get_key_display(binding), key.description, key.explain))
        order = ["This screen", "Everywhere", "Moving around"]
        lines = [line for name in order for line in sections.get(name, [])]
        self.push_screen(HelpScreen(title, lines))

    def _to_dashboard(self) -> DashboardScreen:
        while len(self.screen_stack) > 1:
            self.pop_screen()
        screen = self.screen
        assert isinstance(screen, DashboardScreen)
        return screen

    def action_overview(self) -> None:
        self._to_dashboard().focus_panel(1)

    def action_platform(self, position: int) -> None:
        self._to_dashboard().focus_panel(position)

    def action_notifications(self) -> None:
        if not isinstance(self.screen, NotificationsScreen):
            self.push_screen(NotificationsScreen())

    def action_problems(self) -> None:
        if isinstance(self.screen, ProblemsScreen):
            return
        if self._problems in self.screen_stack:  # under a group's records: a second queue
            self.push_screen(ProblemsScreen())
        else:
            self._problems.reopen()
            self.push_screen(self._problems)

    def open_records(self, connection: ConnectionSummary | None, where: JobFilter, *,
                     name: str | None = None) -> None:
        """A listing, on the record screen kept composed; a new screen only when that one
        is already on the stack (a group's records opened from a listing's problems)."""
        if self._records in self.screen_stack:
            self.push_screen(RecordScreen(connection, where, name=name))
        else:
            self._records.show_listing(connection, where, name=name)
            self.push_screen(self._records)

    def prepare_screens(self) -> None:
        """Compose the kept screens while the overview is read, not when a key opens one:
        composing one (its footer, query line, table) costs ~0.4 s, far over a key's 50 ms.
        Installed, they stay composed when dismissed and are shown again with new data."""
        for name, screen in (("records", self._records), ("problems", self._problems)):
            if not self.is_screen_installed(screen):
                self.install_screen(screen, name)
            if not screen.is_running:
                self._get_screen(screen)  # Textual's own first step of a push: mounts it

    # -- the collector ------------------------------------------------------------------
    # A full pass of Python's cycle collector walks every object the process holds, and
    # allocation starts one, so it fell inside keys: 0.1-0.2 s over the start's ~100,000
    # objects, 15-60 ms over the rest, in one key of five on a million-job store.

    def keep_heap(self) -> None:
        """Once the start's work is done: what it built (Textual, the kept screens, the
        platforms' code) lives as long as the console and is left out of every pass, and
        the full passes move from allocation to the clock's tick (`_collect`)."""
        gc.freeze()
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, NEVER)

    def _collect(self) -> None:
        """The full pass, when the collector would have made one (as many middle passes
        since the last), at most once a second and between keys rather than in one."""
        if gc.get_threshold()[2] == NEVER and gc.get_count()[2] >= FULL_PASS_AFTER:
            gc.collect()

    def on_unmount(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
        # As the console found it (a test process runs many consoles).
        gc.set_threshold(*gc.get_threshold()[:2], FULL_PASS_AFTER)
        gc.unfreeze()

    # -- business --

    def action_businesses(self) -> None:
        if not isinstance(self.screen, BusinessesScreen):
            self.push_screen(BusinessesScreen())

    def choose_business(self, business: int | None, name: str | None) -> None:
        """Scope every screen to one business (None: all), back on the overview."""
        self.service = self.service.scoped_to(business)
        self.business_name = name
        self._show_status()
        self._to_dashboard().reload()

    def action_drift(self) -> None:
        if not isinstance(self.screen, DriftScreen):
            self.push_screen(DriftScreen())

    def action_connections(self) -> None:
        if not isinstance(self.screen, ConnectionsScreen):
            self.push_screen(ConnectionsScreen())

    # -- commands -----------------------------------------------------------------------

    def run_command(self, call: Callable[[], Awaitable[T]], done: Callable[[T], str], *,
                    busy: str = "") -> Worker[None]:
        """Run one service command in a worker; say how it went; refresh what is shown."""

        async def run() -> None:
            self.busy = busy
            try:
                result = await call()
            finally:
                self.busy = ""
            self.notify(done(result), markup=False)
            self.poll(force=True)

        return self.run_worker(run(), group="command", exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.report(event.worker.error)

    def report(self, error: BaseException) -> None:
        """The one place failures are shown; a refused command is not a crash."""
        title = "Refused" if isinstance(error, ConfigError) else "Failed"
        text = str(error) if isinstance(error, SyncdeskError) else (
            f"{type(error).__name__}: {error}")
        self.notify(text, title=title, severity="error", markup=False, timeout=8)

    def confirm(self, question: str, scope: str, action: str,
                then: Callable[[], object]) -> None:
        """Ask in a modal (focus on Cancel); run `then` only if the user confirmed."""

        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.push_screen(ConfirmScreen(question, scope, action), answered)

    def retry(self, job_ids: list[int]) -> None:
        self.run_command(lambda: self.service.retry(job_ids),
                         lambda n: f"{n:,} of {count(len(job_ids), 'record')} re-queued")

    @work(group="command", exit_on_error=False)
    async def retry_where(self, wheres: Sequence[JobFilter], scope: str,
                          on_confirmed: Callable[[], None] | None = None) -> None:
        """Count what `wheres` would retry, confirm with that count, then retry it all (one
        bulk retry per filter: a problem group each, say)."""
        matching = 0
        for where in wheres:
            matching += await self.service.retry_matching(where, dry_run=True)
        if not matching:
            self.notify(f"Nothing to retry in {scope}.", markup=False)
            return

        def retry() -> None:
            if on_confirmed is not None:
                on_confirmed()
            self.run_command(lambda: self._retry_all(wheres),
                             lambda n: f"{count(n, 'record')} re-queued ({scope})",
                             busy=f"Retrying {count(matching, 'record')}…")

        self.confirm(f"Retry {count(matching, 'record')}?", scope, f"Retry {matching:,}",
                     retry)

    async def _retry_all(self, wheres: Sequence[JobFilter]) -> int:
        done = 0
        for where in wheres:
            done += await self.service.retry_matching(where)
        return done

    def resync(self, job_id: int, label: str) -> None:
        self.run_command(lambda: self.service.resync(job_id),
                         lambda n: f"{label}: resync queued ({count(n, 'job')})")

    def relink(self, job_id: int, label: str) -> None:
        self.run_command(lambda: self.service.relink(job_id),
                         lambda n: f"{label}: link forgotten, re-link queued")

    def toggle_connection(self, connection: ConnectionSummary) -> None:
        name = describe(connection)
        if connection.state == "paused":
            self.run_command(lambda: self.service.resume(connection.id),
                             lambda _: f"{name} resumed")
        else:
            self.run_command(lambda: self.service.pause(connection.id),
                             lambda _: f"{name} paused")

    def disconnect(self, connection: ConnectionSummary) -> None:
        name = describe(connection)
        self.confirm(f"Disconnect {name}?",
                     "Syncing stops; links and history stay for a reconnect.", "Disconnect",
                     lambda: self.run_command(lambda: self.service.disconnect(connection.id),
                                              lambda _: f"{name} disconnected"))

    @work(group="command", exit_on_error=False)
    async def purge(self, connection: ConnectionSummary) -> None:
        name = describe(connection)
        links = await self.service.link_count(connection.id)
        jobs = sum(c.total for c in connection.counts)
        self.confirm(
            f"Revoke and purge {name}?",
            f"Revokes access at {connection.platform}, then deletes {count(links, 'link')} "
            f"and {count(jobs, 'sync job')} with their history. This cannot be undone.",
            "Purge",
            lambda: self.run_command(lambda: self.service.purge(connection.id),
                                     lambda n: f"{name} purged: {count(n, 'job')} deleted",
                                     busy=f"Purging {name}…"))

    def connect(self, platform: str) -> None:
        connect = self._connect
        if connect is None:
            self.notify(f"Connect with `syncdesk connect {platform}`.", markup=False)
            return
        self.run_command(lambda: connect(platform), str, busy=f"Connecting {platform}…")

    def map_value(self, connection_id: int, kind: MappingKind, key: str | None, value: str,
                  choices: list[Choice], what: str) -> None:
        """Set one mapping to a value picked from `choices` (the platform's list just read)."""
        self.run_command(
            lambda: self.service.set_mapping(connection_id, kind, key, value, choices=choices),
            lambda change: f"{what} → {value}; {count(change.requeued, 'record')} re-queued")
