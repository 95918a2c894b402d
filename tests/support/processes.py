"""Real `flask` child processes for the tests that prove behaviour across processes."""

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0  # seconds for a `flask` process to import the app and start


class FlaskProcess:
    """One `python -m flask ...` child process, its output kept in files."""

    def __init__(self, directory: Path, name: str, args: list[str], env: dict[str, str]):
        self.stdout_path = directory / f"{name}.out"
        self.stderr_path = directory / f"{name}.err"
        self._files: list[IO[str]] = [
            self.stdout_path.open("w", encoding="utf-8"),
            self.stderr_path.open("w", encoding="utf-8"),
        ]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._files[0],
            stderr=self._files[1],
            text=True,
        )
        self.pid = self.process.pid

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8")

    def wait(self, timeout: float) -> int:
        """The exit code; a process still running after `timeout` is killed and fails the test."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"pid {self.pid} did not exit within {timeout}s:\n{self.stderr[-3000:]}")

    def stop(self, timeout: float) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for file in self._files:
            file.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Any]:
    """Start `flask` processes; any still running when the test ends are killed."""
    started: list[FlaskProcess] = []

    def start(name: str, args: list[str], env: dict[str, str]) -> FlaskProcess:
        child = FlaskProcess(tmp_path, name, args, env)
        started.append(child)
        return child

    yield start
    for child in started:
        child.kill()


def wait_for(condition: Any, timeout: float) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def report(children: list[FlaskProcess], codes: list[int]) -> str:
    """Each process's exit code and output, from its first traceback if it has one."""
    parts = []
    for child, code in zip(children, codes, strict=True):
        stderr = child.stderr
        first_traceback = stderr.find("Traceback")
        excerpt = stderr[first_traceback:][:4000] if first_traceback >= 0 else stderr[-4000:]
        parts.append(f"--- pid {child.pid} exited {code}\n{child.stdout}{excerpt}")
    return "\n".join(parts)
