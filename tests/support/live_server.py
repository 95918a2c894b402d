"""A real portal in subprocesses: migrated, seeded with demo data and served by `flask run`."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
COMMAND_TIMEOUT = 120.0


class LiveServerError(RuntimeError):
    """The portal could not be prepared or did not come up."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _environment(database_url: str, base_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "PORTAL_")) and key != "PUBLIC_BASE_URL"
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "live-server-test-secret-key",
            "PUBLIC_BASE_URL": base_url,
            "FLASK_APP": "wsgi",
            "RATELIMIT_STORAGE_URI": "memory://",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _run_flask(args: list[str], env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "flask", *args]
    try:
        result = subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise LiveServerError(
            f"{' '.join(command)} timed out after {COMMAND_TIMEOUT:.0f} s"
        ) from error
    if result.returncode != 0:
        raise LiveServerError(
            f"{' '.join(command)} exited with {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (local http URL)
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[str]) -> None:
    """Terminate the server, and kill it if it lingers."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def _wait_until_healthy(process: subprocess.Popen[str], base_url: str) -> str | None:
    """None once /healthz answers 200, else why the server is not coming up."""
    deadline = time.monotonic() + START_TIMEOUT
    while not _healthy(f"{base_url}/healthz"):
        if process.poll() is not None:
            return f"the portal exited with {process.returncode} before answering /healthz"
        if time.monotonic() > deadline:
            return f"the portal did not answer /healthz within {START_TIMEOUT:.0f} s"
        time.sleep(0.2)
    return None


@contextmanager
def live_server(database_url: str, tmp_path: Path, *, prepare: bool = True) -> Iterator[str]:
    """Migrate and seed the database at `database_url` (unless `prepare` is false: it already
    is), serve the portal on it, yield its URL.

    The server's output goes to a log file under `tmp_path`; it is quoted in the error when
    the server does not answer /healthz within START_TIMEOUT seconds.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = _environment(database_url, base_url)
    if prepare:
        _run_flask(["db", "upgrade"], env)
        _run_flask(["demo", "seed", "--quiet"], env)

    log_path = Path(tmp_path) / f"live-server-{port}.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-reload",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            problem = _wait_until_healthy(process, base_url)
            if problem:
                _stop(process)
                output = log_path.read_text(encoding="utf-8")
                raise LiveServerError(f"{problem}; its output:\n{output}")
            yield base_url
        finally:
            _stop(process)
