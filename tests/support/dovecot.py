"""A real Dovecot IMAP server for the inbound-mail tests, one per test session.

It runs `dovecot -F` with a configuration of its own in a temporary directory: an IMAPS
listener and a plain IMAP listener that offers STARTTLS, both on free ports; TLS required for
every login, with a self-signed certificate made for the session (the tests trust it through
IMAP_CA_FILE); one passwd-file user with Maildir storage; its runtime, state and log files in
the same directory. The package's own system service, if any runs, is never involved: other
ports, another base directory, another certificate.

Dovecot never runs as root here. When the tests do (as in CI), it is started as `nobody`; in
either case its master, login, auth and mail processes all run as that one account (Dovecot's
"rootless" setup), so no mail process gets uid 0 and `first_valid_uid` need not be lowered.

It listens on 127.0.0.2, not 127.0.0.1: Dovecot treats a connection whose remote address equals
its local address as secure and then allows a plaintext LOGIN despite `ssl = required`. From
127.0.0.1 to 127.0.0.2 it does not, so a client that skipped TLS would be refused as it would
be by a real server.
"""

import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import ON_CI
from tests.support.live_server import free_port

HOST = "127.0.0.2"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
INSTALL_HINT = "apt-get install dovecot-imapd"
APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]")
LIST_LINE = re.compile(r'\((?P<flags>[^)]*)\) (?P<separator>"[^"]*"|NIL) (?P<name>.+)')


def find_dovecot() -> str | None:
    """The dovecot binary; Debian puts it in /usr/sbin, which a user's PATH may lack."""
    found = shutil.which("dovecot")
    if found:
        return found
    return "/usr/sbin/dovecot" if os.access("/usr/sbin/dovecot", os.X_OK) else None


def make_certificate(directory: Path, name: str = "imap") -> tuple[Path, Path]:
    """A new self-signed certificate for localhost, 127.0.0.1 and 127.0.0.2, and its key.

    Made with the `openssl` command, which Debian's dovecot-core package depends on.
    """
    cert, key = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:127.0.0.2",
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "keyUsage=critical,digitalSignature",
            "-addext", "extendedKeyUsage=serverAuth",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _account() -> pwd.struct_passwd:
    """Who Dovecot runs as: the tests' own account, or nobody when the tests run as root."""
    if os.geteuid() == 0:
        return pwd.getpwnam("nobody")
    return pwd.getpwuid(os.geteuid())


CONFIG = """\
# Written by tests/support/dovecot.py for one test session.
protocols = imap
listen = {host}
base_dir = {root}/run
state_dir = {root}/state
instance_name = portal-test-{port}
log_path = {root}/dovecot.log

# Rootless: every process runs as the account that started the master.
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
last_valid_uid = {uid}

ssl = required
disable_plaintext_auth = yes
ssl_min_protocol = TLSv1.2
ssl_cert = <{cert}
ssl_key = <{key}
# A wrong password is answered without the usual 2 s wait, to keep its test quick.
auth_failure_delay = 0

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {ssl_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # After a failed login Dovecot slows down the next logins from that IP (4 s after one
  # failure). A penalty socket that no one may open switches that off, so the wrong-password
  # test does not hold up the tests after it.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _folder_names(listed: list[Any]) -> set[str]:
    """The names in a LIST answer (`(\\HasNoChildren) "." Processed`), unquoted."""
    names = set()
    for line in listed:
        match = LIST_LINE.match(line.decode())
        assert match, line
        name = match.group("name")
        if name.startswith('"'):
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        names.add(name)
    return names


class Dovecot:
    """A Dovecot child process and what a test needs to reach it."""

    host = HOST
    user = "portal-inbound"
    password = "imap-Secret-4711"  # the tests check that no error message ever shows it

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="portal-dovecot-"))
        self.log_path = self.root / "dovecot.log"
        self.output_path = self.root / "dovecot.out"
        self.config = self.root / "dovecot.conf"
        self.imap_port = free_port(HOST)  # plain IMAP, upgraded with STARTTLS
        self.imaps_port = free_port(HOST)
        self.ca_file = self.root / "imap-cert.pem"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.ca_file, key = make_certificate(self.root)
        account = _account()
        (self.root / "mail").mkdir()
        (self.root / "users").write_text(
            f"{self.user}:{{PLAIN}}{self.password}:{account.pw_uid}:{account.pw_gid}"
            f"::{self.root}/mail/{self.user}\n",
            encoding="utf-8",
        )
        self.config.write_text(
            CONFIG.format(
                host=HOST,
                root=self.root,
                port=self.imap_port,
                ssl_port=self.imaps_port,
                user=account.pw_name,
                group=grp.getgrgid(account.pw_gid).gr_name,
                uid=account.pw_uid,
                cert=self.ca_file,
                key=key,
            ),
            encoding="utf-8",
        )
        switch_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            for path in (self.root, *self.root.iterdir()):
                os.chown(path, account.pw_uid, account.pw_gid)
            switch_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        with self.output_path.open("wb") as output:
            self.process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                **switch_user,
            )

    def log(self) -> str:
        parts = [
            path.read_text(encoding="utf-8", errors="replace")
            for path in (self.output_path, self.log_path)
            if path.exists()
        ]
        return "".join(parts)

    def wait_until_ready(self) -> str | None:
        """None once the plain listener greets like Dovecot, else why it does not."""
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                return f"dovecot exited with {self.process.returncode}"
            try:
                with socket.create_connection((HOST, self.imap_port), timeout=2) as sock:
                    if sock.recv(200).startswith(b"* OK"):
                        return None
            except OSError:
                pass
            if time.monotonic() > deadline:
                return f"dovecot did not answer on {HOST}:{self.imap_port} in {START_TIMEOUT}s"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        shutil.rmtree(self.root, ignore_errors=True)

    def connect(self) -> imaplib.IMAP4_SSL:
        """A logged-in IMAPS connection, for the tests' own look at the mailbox."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        imap = imaplib.IMAP4_SSL(HOST, self.imaps_port, ssl_context=context, timeout=30)
        imap.login(self.user, self.password)
        return imap

    def append(self, raw: bytes, folder: str = "INBOX") -> int:
        """Store a message (its lines must end in CRLF: APPEND sends them so); its UID."""
        imap = self.connect()
        try:
            status, data = imap.append(_quoted(folder), None, None, raw)
        finally:
            imap.logout()
        assert status == "OK", data
        found = APPENDUID.search(data[0])
        assert found, data
        return int(found.group(1))

    def messages(self, folder: str = "INBOX") -> list[bytes]:
        """The messages in `folder` not marked deleted, oldest first, read without a trace."""
        imap = self.connect()
        try:
            status, data = imap.select(_quoted(folder), readonly=True)
            assert status == "OK", data
            _, found = imap.uid("SEARCH", "UNDELETED")
            raws = []
            for uid in found[0].split():
                _, fetched = imap.uid("FETCH", uid, "(BODY.PEEK[])")
                raws.append(next(part[1] for part in fetched if isinstance(part, tuple)))
            return raws
        finally:
            imap.logout()

    def folders(self) -> set[str]:
        imap = self.connect()
        try:
            _, listed = imap.list()
        finally:
            imap.logout()
        return _folder_names(listed)

    def reset(self) -> None:
        """An empty INBOX and no other folder, as a new user has."""
        imap = self.connect()
        try:
            _, listed = imap.list()
            for folder in _folder_names(listed) - {"INBOX"}:
                imap.delete(_quoted(folder))
            imap.select("INBOX")
            imap.uid("STORE", "1:*", "+FLAGS.SILENT", r"(\Deleted)")
            imap.expunge()
        finally:
            imap.logout()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One Dovecot for the session; tests call `reset()` for a fresh mailbox."""
    binary = find_dovecot()
    if binary is None:
        if ON_CI:
            pytest.fail(f"CI=true needs Dovecot for the inbound mail tests: {INSTALL_HINT}")
        pytest.skip(f"Dovecot not installed: {INSTALL_HINT}")
    server = Dovecot(binary)
    try:
        server.start()
        problem = server.wait_until_ready()
        if problem:
            pytest.fail(f"{problem}; its log:\n{server.log()}")
        yield server
    finally:
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test that used Dovecot shows the end of its log."""
    report = yield
    server = getattr(item, "funcargs", {}).get("dovecot")
    if report.failed and isinstance(server, Dovecot):
        report.sections.append(("dovecot log", server.log()[-6000:]))
    return report
