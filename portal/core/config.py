"""Configuration from the environment: every variable is listed in the README's table."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal.core.timeutil import is_valid_timezone

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INSTANCE_DIR = PROJECT_ROOT / "instance"

LANGUAGES = {"en": "English", "zh_Hans": "简体中文"}
COMPLAINT_PROFILES = ("CN", "US", "UK")  # portal.tickets.clocks.PROFILES
IMAP_SECURITY_MODES = ("ssl", "starttls")  # no plaintext IMAP: the password would travel in clear


class ConfigError(RuntimeError):
    """The environment asks for something the portal cannot run with."""


def _number(env: Mapping[str, str], name: str, default: float, kind: type = int) -> Any:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError as error:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from error
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _default_database_url() -> str:
    return f"sqlite:///{INSTANCE_DIR / 'portal.sqlite3'}"


@dataclass
class Settings:
    """Everything the app reads from its environment, with development defaults."""

    database_url: str = field(default_factory=_default_database_url)
    secret_key: str | None = None
    public_base_url: str = "http://127.0.0.1:5000"
    env: str = "development"
    default_timezone: str = "Asia/Shanghai"
    complaint_profile: str = "CN"
    complaint_roll_weekends: bool = False
    default_locale: str = "en"
    session_hours: float = 8.0
    ratelimit_storage_uri: str = "memory://"
    login_limit_per_account: str = "5 per 15 minutes"
    login_limit_per_ip: str = "30 per 15 minutes"
    public_form_limit: str = "10 per hour"
    survey_page_limit: str = "60 per minute"
    trusted_proxies: int = 0
    scheduler_timezone: str = "UTC"
    job_registry: str = ""  # "module:LIST" replaces the rooms' jobs (the tests use it)
    job_history_days: int = 90
    log_level: str = "INFO"
    # Messaging (portal/messaging): transport, sender, and the contact policy.
    mail_transport: str = "file"
    mail_dir: str = field(default_factory=lambda: str(INSTANCE_DIR / "mail"))
    mail_from: str = "Credit Care <care@portal.invalid>"
    mail_domain: str = "portal.invalid"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout: float = 10.0
    # Inbound email for tickets (portal/tickets/channels/mailbox.py): the IMAP mailbox to poll.
    imap_host: str = ""
    imap_port: int | None = None  # 993 for ssl, 143 for starttls
    imap_security: str = "ssl"
    imap_user: str | None = None
    imap_password: str | None = None
    imap_folder: str = "INBOX"
    imap_processed_folder: str = "Processed"
    imap_batch: int = 50
    imap_timeout: float = 30.0
    imap_ca_file: str | None = None
    firm_name: str = "Credit Care"
    unsubscribe_mailto: str | None = None
    contact_caps: str = "survey:1/30,care+survey:3/7,care+survey+service!:6/7"
    quiet_hours: str = "22:00-08:00"
    suppress_when: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            database_url=env.get("DATABASE_URL") or defaults.database_url,
            secret_key=env.get("SECRET_KEY") or None,
            public_base_url=(env.get("PUBLIC_BASE_URL") or defaults.public_base_url).rstrip("/"),
            env=env.get("PORTAL_ENV") or defaults.env,
            default_timezone=env.get("DEFAULT_TIMEZONE") or defaults.default_timezone,
            default_locale=env.get("DEFAULT_LOCALE") or defaults.default_locale,
            complaint_profile=(env.get("COMPLAINT_PROFILE") or defaults.complaint_profile).upper(),
            complaint_roll_weekends=_flag(env, "COMPLAINT_ROLL_WEEKENDS"),
            session_hours=_number(env, "SESSION_HOURS", defaults.session_hours, float),
            ratelimit_storage_uri=env.get("RATELIMIT_STORAGE_URI")
            or defaults.ratelimit_storage_uri,
            login_limit_per_account=env.get("LOGIN_LIMIT_PER_ACCOUNT")
            or defaults.login_limit_per_account,
            login_limit_per_ip=env.get("LOGIN_LIMIT_PER_IP") or defaults.login_limit_per_ip,
            public_form_limit=env.get("PUBLIC_FORM_LIMIT") or defaults.public_form_limit,
            survey_page_limit=env.get("SURVEY_PAGE_LIMIT") or defaults.survey_page_limit,
            trusted_proxies=_number(env, "TRUSTED_PROXIES", 0),
            scheduler_timezone=env.get("SCHEDULER_TIMEZONE") or defaults.scheduler_timezone,
            job_registry=env.get("JOB_REGISTRY") or defaults.job_registry,
            job_history_days=_number(env, "JOB_HISTORY_DAYS", defaults.job_history_days),
            log_level=env.get("LOG_LEVEL") or defaults.log_level,
            mail_transport=(env.get("MAIL_TRANSPORT") or defaults.mail_transport).lower(),
            mail_dir=env.get("MAIL_DIR") or defaults.mail_dir,
            mail_from=env.get("MAIL_FROM") or defaults.mail_from,
            mail_domain=env.get("MAIL_DOMAIN") or defaults.mail_domain,
            smtp_host=env.get("SMTP_HOST") or defaults.smtp_host,
            smtp_port=_number(env, "SMTP_PORT", defaults.smtp_port),
            smtp_starttls=_flag(env, "SMTP_STARTTLS"),
            smtp_username=env.get("SMTP_USERNAME") or None,
            smtp_password=env.get("SMTP_PASSWORD") or None,
            smtp_timeout=_number(env, "SMTP_TIMEOUT", defaults.smtp_timeout, float),
            imap_host=(env.get("IMAP_HOST") or "").strip(),
            imap_port=_number(env, "IMAP_PORT", defaults.imap_port),
            imap_security=(env.get("IMAP_SECURITY") or defaults.imap_security).strip().lower(),
            imap_user=env.get("IMAP_USER") or None,
            imap_password=env.get("IMAP_PASSWORD") or None,
            imap_folder=env.get("IMAP_FOLDER") or defaults.imap_folder,
            imap_processed_folder=env.get("IMAP_PROCESSED_FOLDER")
            or defaults.imap_processed_folder,
            imap_batch=_number(env, "IMAP_BATCH", defaults.imap_batch),
            imap_timeout=_number(env, "IMAP_TIMEOUT", defaults.imap_timeout, float),
            imap_ca_file=env.get("IMAP_CA_FILE") or None,
            firm_name=env.get("FIRM_NAME") or defaults.firm_name,
            unsubscribe_mailto=env.get("UNSUBSCRIBE_MAILTO") or None,
            contact_caps=env.get("CONTACT_CAPS", defaults.contact_caps),
            quiet_hours=env.get("QUIET_HOURS", defaults.quiet_hours),
            suppress_when={
                purpose: env[f"SUPPRESS_{purpose.upper()}_WHEN"]
                for purpose in ("care", "survey", "service")
                if f"SUPPRESS_{purpose.upper()}_WHEN" in env
            },
        )

    def to_flask(self) -> dict[str, Any]:
        if self.default_locale not in LANGUAGES:
            raise ConfigError(f"DEFAULT_LOCALE must be one of {', '.join(LANGUAGES)}")
        for name, zone in (
            ("DEFAULT_TIMEZONE", self.default_timezone),
            ("SCHEDULER_TIMEZONE", self.scheduler_timezone),
        ):
            if not is_valid_timezone(zone):
                raise ConfigError(f"{name} {zone!r} is not an IANA time zone")
        if self.complaint_profile not in COMPLAINT_PROFILES:
            raise ConfigError(f"COMPLAINT_PROFILE must be one of {', '.join(COMPLAINT_PROFILES)}")
        if self.mail_transport not in ("file", "smtp"):
            raise ConfigError("MAIL_TRANSPORT must be file or smtp")
        if self.imap_security not in IMAP_SECURITY_MODES:
            raise ConfigError(f"IMAP_SECURITY must be one of {', '.join(IMAP_SECURITY_MODES)}")
        production = self.env == "production"
        secret = self.secret_key
        if secret is None:
            if production:
                raise ConfigError("SECRET_KEY must be set when PORTAL_ENV=production")
            secret = "dev-only-secret-key-not-for-production"  # noqa: S105
        database_url = self.database_url
        if database_url.startswith("postgres://"):
            database_url = "postgresql+psycopg://" + database_url.removeprefix("postgres://")
        elif database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
        return {
            "SECRET_KEY": secret,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "PUBLIC_BASE_URL": self.public_base_url,
            "PORTAL_ENV": self.env,
            "DEFAULT_TIMEZONE": self.default_timezone,
            "COMPLAINT_PROFILE": self.complaint_profile,
            "COMPLAINT_ROLL_WEEKENDS": self.complaint_roll_weekends,
            "BABEL_DEFAULT_LOCALE": self.default_locale,
            "BABEL_DEFAULT_TIMEZONE": self.default_timezone,
            "BABEL_TRANSLATION_DIRECTORIES": str(PROJECT_ROOT / "portal" / "translations"),
            "LANGUAGES": LANGUAGES,
            "PERMANENT_SESSION_LIFETIME": int(self.session_hours * 3600),
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_NAME": "portal_session",
            "WTF_CSRF_TIME_LIMIT": None,
            "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
            "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
            "RATELIMIT_STORAGE_URI": self.ratelimit_storage_uri,
            "RATELIMIT_HEADERS_ENABLED": False,
            "LOGIN_LIMIT_PER_ACCOUNT": self.login_limit_per_account,
            "LOGIN_LIMIT_PER_IP": self.login_limit_per_ip,
            "PUBLIC_FORM_LIMIT": self.public_form_limit,
            "SURVEY_PAGE_LIMIT": self.survey_page_limit,
            "TRUSTED_PROXIES": self.trusted_proxies,
            "SCHEDULER_TIMEZONE": self.scheduler_timezone,
            "JOB_REGISTRY": self.job_registry,
            "JOB_HISTORY_DAYS": self.job_history_days,
            "LOG_LEVEL": self.log_level,
            "MAIL_TRANSPORT": self.mail_transport,
            "MAIL_DIR": self.mail_dir,
            "MAIL_FROM": self.mail_from,
            "MAIL_DOMAIN": self.mail_domain,
            "SMTP_HOST": self.smtp_host,
            "SMTP_PORT": self.smtp_port,
            "SMTP_STARTTLS": self.smtp_starttls,
            "SMTP_USERNAME": self.smtp_username,
            "SMTP_PASSWORD": self.smtp_password,
            "SMTP_TIMEOUT": self.smtp_timeout,
            "IMAP_HOST": self.imap_host,
            "IMAP_PORT": self.imap_port,
            "IMAP_SECURITY": self.imap_security,
            "IMAP_USER": self.imap_user,
            "IMAP_PASSWORD": self.imap_password,
            "IMAP_FOLDER": self.imap_folder,
            "IMAP_PROCESSED_FOLDER": self.imap_processed_folder,
            "IMAP_BATCH": self.imap_batch,
            "IMAP_TIMEOUT": self.imap_timeout,
            "IMAP_CA_FILE": self.imap_ca_file,
            "FIRM_NAME": self.firm_name,
            "UNSUBSCRIBE_MAILTO": self.unsubscribe_mailto,
            "CONTACT_CAPS": self.contact_caps,
            "QUIET_HOURS": self.quiet_hours,
            **{
                f"SUPPRESS_{purpose.upper()}_WHEN": value
                for purpose, value in self.suppress_when.items()
            },
        }


def derive_https_settings(config: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Cookies are Secure and URLs https exactly when the portal is served over HTTPS."""
    https = str(config.get("PUBLIC_BASE_URL", "")).startswith("https://")
    derived = {
        "SESSION_COOKIE_SECURE": https,
        "PREFERRED_URL_SCHEME": "https" if https else "http",
        "WTF_CSRF_SSL_STRICT": https,
    }
    for key, value in derived.items():
        if key not in overrides:
            config[key] = value
