"""Stand-ins for the tools the delivery scripts drive in CI (pulumi, make, gh, kubectl), and a web server.

Each fake is a small bash script on a PATH of its own that appends its command line to a log and
answers as the test tells it, so a test reads what a delivery script did, in order. The web
server answers each path with the status a file names, so a test changes a site's health mid-run.
"""

from __future__ import annotations

import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from offline.program import PROJECT_DIR


@dataclass(frozen=True)
class Fakes:
    bin_dir: Path
    log: Path
    state: Path
    """A directory the fakes and the test share (answers, what was deployed)."""

    def install(self, name: str, body: str) -> None:
        script = self.bin_dir / name
        script.write_text(
            "#!/usr/bin/env bash\nset -euo pipefail\n"
            f'printf "%s\\n" "{name} $*" >>"{self.log}"\n'
            f'state="{self.state}"\n' + body,
            encoding="utf-8",
        )
        script.chmod(0o755)

    def calls(self, name: str | None = None) -> list[str]:
        if not self.log.exists():
            return []
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [line for line in lines if name is None or line.split(" ", 1)[0] == name]

    def environment(self, **variables: str) -> dict[str, str]:
        """The caller's environment with the fakes first on PATH, no GitHub or Pulumi settings leaking in."""
        kept = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("GITHUB_", "PULUMI_", "CANARY_", "SMOKE_", "PROMOTION_", "GH_"))
        }
        kept["PATH"] = f"{self.bin_dir}{os.pathsep}{kept.get('PATH', '')}"
        return {**kept, **variables}


def make_fakes(directory: Path) -> Fakes:
    fakes = Fakes(bin_dir=directory / "bin", log=directory / "calls.log", state=directory / "state")
    fakes.bin_dir.mkdir(parents=True)
    fakes.state.mkdir()
    return fakes


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    status_dir: Path

    def do_GET(self) -> None:
        answer = self.status_dir / (self.path.strip("/").replace("/", "_") or "root")
        status = int(answer.read_text().strip()) if answer.exists() else 404
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass(frozen=True)
class Site:
    url: str
    status_dir: Path

    def answer(self, path: str, status: int) -> None:
        (self.status_dir / (path.strip("/").replace("/", "_") or "root")).write_text(str(status))


@contextmanager
def web_site(directory: Path) -> Iterator[Site]:
    """A server on loopback answering GET <path> with the status written for it (404 when none is)."""
    directory.mkdir(parents=True, exist_ok=True)
    handler = type("Handler", (_StatusHandler,), {"status_dir": directory})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(url=f"http://127.0.0.1:{server.server_address[1]}", status_dir=directory)
    finally:
        server.shutdown()
        server.server_close()


def copy_scripts(root: Path) -> Path:
    """The repository's scripts/ under `root`, as the delivery scripts find each other through it."""
    shutil.copytree(PROJECT_DIR / "scripts", root / "scripts")
    shutil.copy2(PROJECT_DIR / ".pulumi-version", root / ".pulumi-version")
    return root
