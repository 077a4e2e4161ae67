"""A throwaway PostgreSQL cluster for the tests and benchmarks: initdb in a temporary folder,
a loopback port, trust authentication, no fsync (nothing in it outlives the run).

PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user.
`SYNCDESK_TEST_PG` chooses: unset, the PostgreSQL variants of the tests run when the
binaries are installed and are skipped (saying why) when not; `required` (CI) makes missing
binaries an error; `off` skips them; a `postgresql://` URL uses that server instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ENV = "SYNCDESK_TEST_PG"


class Unavailable(Exception):
    """No PostgreSQL to test against; the message says why."""


def binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise Unavailable("PostgreSQL is not installed (apt-get install -y postgresql)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    folder: Path
    port: int
    bin: Path
    as_user: list[str]

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://syncdesk@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"),
                        "-m", "immediate", "stop"], capture_output=True, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def start(port: int | None = None) -> Cluster:
    """A new cluster, running; `stop()` removes it."""
    bindir = binaries()
    folder = Path(tempfile.mkdtemp(prefix="syncdesk-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    port = port or _free_port()
    try:
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "syncdesk",
                        "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"],
                       capture_output=True, check=True, text=True)
        options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=400")
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
                        "-l", str(folder / "log"), "-w", "start"],
                       capture_output=True, check=True, text=True)
    except subprocess.CalledProcessError as exc:
        log = (folder / "log").read_text() if (folder / "log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise Unavailable(f"could not start PostgreSQL: {exc.stderr or exc.stdout}{log}") from exc
    return Cluster(folder, port, bindir, as_user)


if __name__ == "__main__":  # python -m tests._pg: a cluster for a person to try things on
    cluster = start()
    print(cluster.url, flush=True)
    try:
        input("Enter stops it ")
    finally:
        cluster.stop()
