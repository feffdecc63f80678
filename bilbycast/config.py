"""Configuration: defaults < config.toml < BILBYCAST_* environment < command-line options.

Every key is declared once in KEYS (with its default and a one-line meaning); the default
config.toml that `setup` writes and the README table are generated from the same list, so a key
cannot exist without documentation.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import platformdirs

APP_NAME = "bilbycast-manager"
APP_AUTHOR = "Bilbycast"
TLS_MODES = ("self_signed", "direct", "behind_proxy")
LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(Exception):
    """A configuration value that cannot be used; the message names the key or variable."""


@dataclass(frozen=True)
class Key:
    section: str
    name: str
    default: Any
    meaning: str
    env: str | None = None

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"


KEYS: tuple[Key, ...] = (
    Key("server", "listen", ["0.0.0.0", "::"], "Addresses to bind (127.0.0.1 only in behind_proxy mode).", "BILBYCAST_LISTEN"),
    Key("server", "port", 8443, "One port for the UI, API, /ws/dashboard and /ws/node.", "BILBYCAST_PORT"),
    Key("server", "public_url", "", "Base URL nodes and browsers use; empty = built from interface addresses.", "BILBYCAST_PUBLIC_URL"),
    Key("tls", "mode", "self_signed", "direct, self_signed or behind_proxy.", "BILBYCAST_TLS_MODE"),
    Key("tls", "cert_path", "", "PEM certificate for direct mode (set with key_path).", "BILBYCAST_TLS_CERT"),
    Key("tls", "key_path", "", "PEM private key for direct mode (set with cert_path).", "BILBYCAST_TLS_KEY"),
    Key("tls", "self_signed_names", [], "Extra DNS names / IPs for the generated certificate."),
    Key("proxy", "trusted_proxies", ["127.0.0.1/32", "::1/128"], "Peers whose X-Forwarded-For is believed (behind_proxy only)."),
    Key("paths", "data_dir", "", "Database, TLS files and lock; empty = platform default.", "BILBYCAST_DATA_DIR"),
    Key("paths", "log_dir", "", "Log directory; empty = platform default.", "BILBYCAST_LOG_DIR"),
    Key("logging", "level", "info", "debug, info, warning or error.", "BILBYCAST_LOG_LEVEL"),
    Key("logging", "format", "text", "text or json."),
    Key("metrics", "tokens_file", "", "File of bearer tokens for /metrics, one per line (32-256 chars)."),
    Key("retention", "audit_days", 365, "Audit rows older than this are pruned (minimum 30)."),
    Key("retention", "ai_threads_days", 90, "AI threads older than this are pruned."),
    Key("limits", "api_rps_per_user", 20, "Authenticated API requests per second per user (burst 10x)."),
    Key("ai", "cloud_enabled", True, "false hides and refuses the cloud AI providers (local Ollama only)."),
)


@dataclass
class Config:
    listen: list[str]
    port: int
    public_url: str
    tls_mode: str
    tls_cert_path: str
    tls_key_path: str
    tls_self_signed_names: list[str]
    trusted_proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
    data_dir: Path
    config_dir: Path
    config_file: Path
    log_dir: Path | None
    log_level: str
    log_format: str
    metrics_tokens: list[str]
    audit_retention_days: int
    ai_threads_retention_days: int
    api_rps_per_user: int
    ai_cloud_enabled: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def behind_proxy(self) -> bool:
        return self.tls_mode == "behind_proxy"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "manager.db"

    @property
    def history_db_path(self) -> Path:
        return self.data_dir / "history.db"

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def lock_path(self) -> Path:
        return self.data_dir / "manager.lock"


def default_config_dir(environ: Mapping[str, str]) -> Path:
    # systemd's ConfigurationDirectory= wins over the desktop default.
    if environ.get("CONFIGURATION_DIRECTORY"):
        return Path(environ["CONFIGURATION_DIRECTORY"].split(":")[0])
    return Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR))


def _default_data_dir(environ: Mapping[str, str]) -> Path:
    if environ.get("STATE_DIRECTORY"):
        return Path(environ["STATE_DIRECTORY"].split(":")[0])
    return Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))


def _default_log_dir(environ: Mapping[str, str]) -> Path | None:
    if environ.get("INVOCATION_ID") and environ.get("STATE_DIRECTORY"):
        return None  # under systemd, logs go to journald via stderr
    return Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR))


def _env_value(key: Key, raw: str) -> Any:
    """Parse an environment override with the type of the key's default; refuse what doesn't parse."""
    if isinstance(key.default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key.env}={raw!r} is not a boolean")
    if isinstance(key.default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{key.env}={raw!r} is not an integer") from None
    if isinstance(key.default, list):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def _check_type(key: Key, value: Any, origin: str) -> Any:
    expected = type(key.default)
    if expected is int and isinstance(value, bool):
        raise ConfigError(f"{origin}: {key.dotted} must be an integer")
    if not isinstance(value, expected):
        raise ConfigError(f"{origin}: {key.dotted} must be {expected.__name__}, got {type(value).__name__}")
    if expected is list and not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{origin}: {key.dotted} must be a list of strings")
    return value


def load_config(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the effective configuration. `overrides` holds command-line values by dotted key."""
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    config_dir = default_config_dir(environ)
    if config_file is None and environ.get("BILBYCAST_CONFIG"):
        config_file = Path(environ["BILBYCAST_CONFIG"])
    if config_file is None:
        config_file = config_dir / "config.toml"
    else:
        config_dir = config_file.parent
    file_values: dict[str, Any] = {}
    if config_file.exists():
        try:
            parsed = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{config_file}: not valid TOML ({exc})") from None
        known = {(k.section, k.name): k for k in KEYS}
        for section, table in parsed.items():
            if not isinstance(table, dict):
                raise ConfigError(f"{config_file}: [{section}] must be a table")
            for name, value in table.items():
                key = known.get((section, name))
                if key is None:
                    raise ConfigError(f"{config_file}: unknown key {section}.{name}")
                file_values[key.dotted] = _check_type(key, value, str(config_file))

    values: dict[str, Any] = {}
    for key in KEYS:
        value = file_values.get(key.dotted, key.default)
        if key.env and environ.get(key.env) not in (None, ""):
            value = _env_value(key, environ[key.env])
        if overrides.get(key.dotted) is not None:
            value = overrides[key.dotted]
        values[key.dotted] = value
    return _build(values, config_dir, config_file, environ)


def _build(values: dict[str, Any], config_dir: Path, config_file: Path, environ: Mapping[str, str]) -> Config:
    mode = values["tls.mode"]
    if mode not in TLS_MODES:
        raise ConfigError(f"tls.mode must be one of {', '.join(TLS_MODES)}, got {mode!r}")
    cert, key = values["tls.cert_path"], values["tls.key_path"]
    if bool(cert) != bool(key):
        raise ConfigError("tls.cert_path and tls.key_path (BILBYCAST_TLS_CERT / BILBYCAST_TLS_KEY) must be set together")
    if mode == "direct" and not cert:
        raise ConfigError("tls.mode = direct needs tls.cert_path and tls.key_path")
    port = values["server.port"]
    if not 1 <= port <= 65535:
        raise ConfigError(f"server.port must be 1-65535, got {port}")
    level = str(values["logging.level"]).lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"logging.level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    if values["logging.format"] not in ("text", "json"):
        raise ConfigError("logging.format must be text or json")
    if values["retention.audit_days"] < 30:
        raise ConfigError("retention.audit_days must be at least 30")
    if values["limits.api_rps_per_user"] < 1:
        raise ConfigError("limits.api_rps_per_user must be at least 1")
    listen = values["server.listen"]
    if mode == "behind_proxy" and listen == ["0.0.0.0", "::"]:
        listen = ["127.0.0.1"]
    for address in listen:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(f"server.listen: {address!r} is not an IP address") from None
    try:
        proxies = [ipaddress.ip_network(p, strict=False) for p in values["proxy.trusted_proxies"]]
    except ValueError as exc:
        raise ConfigError(f"proxy.trusted_proxies: {exc}") from None
    public_url = values["server.public_url"].rstrip("/")
    if public_url and not public_url.startswith(("http://", "https://")):
        raise ConfigError("server.public_url must start with http:// or https://")

    data_dir = Path(values["paths.data_dir"]) if values["paths.data_dir"] else _default_data_dir(environ)
    log_dir = Path(values["paths.log_dir"]) if values["paths.log_dir"] else _default_log_dir(environ)
    return Config(
        listen=list(listen),
        port=port,
        public_url=public_url,
        tls_mode=mode,
        tls_cert_path=cert,
        tls_key_path=key,
        tls_self_signed_names=list(values["tls.self_signed_names"]),
        trusted_proxies=proxies,
        data_dir=data_dir.expanduser(),
        config_dir=config_dir.expanduser(),
        config_file=config_file.expanduser(),
        log_dir=log_dir.expanduser() if log_dir else None,
        log_level=level,
        log_format=values["logging.format"],
        metrics_tokens=_metrics_tokens(values["metrics.tokens_file"], environ),
        audit_retention_days=values["retention.audit_days"],
        ai_threads_retention_days=values["retention.ai_threads_days"],
        api_rps_per_user=values["limits.api_rps_per_user"],
        ai_cloud_enabled=values["ai.cloud_enabled"],
    )


def _metrics_tokens(tokens_file: str, environ: Mapping[str, str]) -> list[str]:
    tokens: list[str] = []
    if tokens_file:
        try:
            lines = Path(tokens_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"metrics.tokens_file: cannot read {tokens_file} ({exc.strerror})") from None
        tokens += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    tokens += [t.strip() for t in environ.get("BILBYCAST_METRICS_TOKENS", "").split(",") if t.strip()]
    for token in tokens:
        if not 32 <= len(token) <= 256:
            raise ConfigError("metrics tokens must be 32-256 characters each")
    return tokens


def _toml_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_literal(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def default_config_toml() -> str:
    """The commented config.toml that `setup` writes: every key, commented out at its default."""
    lines = ["# bilbycast-manager configuration. Every key is shown at its default; uncomment to change.",
             "# Secrets never go here: they come from the environment or manager.env (0600).", ""]
    section = None
    for key in KEYS:
        if key.section != section:
            section = key.section
            lines += ["", f"[{section}]"]
        env = f" (env {key.env})" if key.env else ""
        lines.append(f"# {key.meaning}{env}")
        lines.append(f"# {key.name} = {_toml_literal(key.default)}")
    return "\n".join(lines).lstrip() + "\n"
