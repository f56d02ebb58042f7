"""Settings: where the API is, how to authenticate, and how hard to push it.

One frozen dataclass instead of a function with thirty parameters; ``Settings.from_env()``
reads ``FRAGMENT_TOKEN`` and ``FRAGMENT_BASE_URL`` so the token never has to be typed on a
command line (where it would land in shell history).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field, replace
from urllib.parse import SplitResult, urlsplit

from fragment_bulk._version import __version__
from fragment_bulk.errors import ConfigError

DEFAULT_BASE_URL = "https://api.onfragment.com/api/v1"
DEFAULT_RATE_PER_MIN = 60.0
USER_AGENT = f"fragment-bulk/{__version__}"


@dataclass(frozen=True)
class Settings:
    """How to reach Fragment and how fast to go.

    ``rate_per_min`` is the request rate shared by every request of the process (``None``:
    no client-side limit, for sandboxes with the limit off). ``burst`` is how many requests
    may go at once after a pause; 1 keeps requests evenly spaced, which is what keeps a
    server-side token bucket from ever answering 429. ``timeout`` is the longest one request may
    take, in seconds, from sending to the last byte of the answer (each attempt, when retried).
    """

    token: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 60.0
    rate_per_min: float | None = DEFAULT_RATE_PER_MIN
    burst: int = 1
    concurrency: int = 4
    batch_size: int = 100
    retry_budget: float = 300.0
    max_attempts: int = 12
    allow_insecure_http: bool = False

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        """Settings from ``FRAGMENT_TOKEN`` / ``FRAGMENT_BASE_URL``; explicit values win."""
        values: dict[str, object] = {}
        if os.environ.get("FRAGMENT_TOKEN"):
            values["token"] = os.environ["FRAGMENT_TOKEN"]
        if os.environ.get("FRAGMENT_BASE_URL"):
            values["base_url"] = os.environ["FRAGMENT_BASE_URL"]
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values).checked()

    def with_changes(self, **changes: object) -> "Settings":
        return replace(self, **changes).checked()

    def checked(self) -> "Settings":
        """Refuse settings that cannot work, with a message naming the setting."""
        if self.token is not None and self.token != self.token.strip():
            # Copied from a file or a web page with its line break: the token is what is inside.
            return replace(self, token=self.token.strip() or None).checked()
        if self.token is not None and not all("!" <= char <= "~" for char in self.token):
            raise ConfigError("the API token has a space, a control or a non-ASCII character inside it;"
                              " check the variable that holds it (its value is never shown)")
        if self.base_url != self.base_url.strip():  # a line break copied with it, as a token's
            return replace(self, base_url=self.base_url.strip()).checked()
        parts = _checked_base_url(self.base_url)
        if parts.scheme == "http" and not (self.allow_insecure_http or is_loopback(parts.hostname)):
            raise ConfigError(
                f"refusing plain http to {parts.hostname}: the token would travel unencrypted "
                "(use https, or --insecure-http if you really mean it)"
            )
        if self.rate_per_min is not None and self.rate_per_min <= 0:
            raise ConfigError("rate must be positive, or off")
        for name in ("burst", "concurrency", "batch_size", "max_attempts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', ' ')} must be at least 1")
        return self

    def require_token(self) -> str:
        if not self.token:
            raise ConfigError("no API token: set FRAGMENT_TOKEN (or pass --token-env NAME; in Python,"
                              " settings=Settings(token=...) or sandbox=True for a local sandbox)")
        return self.token


def _checked_base_url(url: str) -> SplitResult:
    """The parts of a base URL that can work, else a ConfigError that never shows what could be a
    secret: a value without a scheme (a token, put in the wrong variable), a ``user:password@``
    or a query string (httpx would send the first instead of the token, and log both in every
    request line; the path of a request goes after the second, so neither can work)."""
    if "://" not in url:
        raise ConfigError("the base URL does not start with https:// (its value is not shown: it may be"
                          " a token put in the wrong variable); give one like " + DEFAULT_BASE_URL)
    if "@" in re.split(r"[?#]", url, maxsplit=1)[0]:
        raise ConfigError(f"the base URL {shown_url(url)!r} holds a user name or password: leave it out (the"
                          " API takes the token from $FRAGMENT_TOKEN, never from the URL)")
    if "?" in url or "#" in url:
        raise ConfigError(f"the base URL {shown_url(url)!r} has a query string or a #fragment: give the"
                          " API's address alone (the token is read from $FRAGMENT_TOKEN, never from the URL)")
    if not all(" " <= char != "\x7f" for char in url):
        raise ConfigError(f"the base URL {url!r} has a control character inside it")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is no number, or out of range)
    except ValueError as exc:
        raise ConfigError(f"the base URL {url!r} cannot be read: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base URL {url!r} is not an http(s) URL")
    return parts


def shown_url(url: str) -> str:
    """``url`` as it may be printed: a ``user:password@``, a query string and a fragment in it
    (where credentials are put: ``?api_key=``, ``#access_token=``) are left out."""
    shown = re.sub(r"^([A-Za-z][\w+.-]*://)[^?#]*@", r"\1***@", url)
    cut = re.search(r"[?#]", shown)
    return shown if cut is None else f"{shown[:cut.end()]}***"


def canonical_url(url: str) -> str:
    """``url`` spelled one way: scheme and host in lower case, no default port, no trailing
    slash (``HTTPS://Host:443/api/`` is ``https://host/api``; ``[::1]`` keeps its brackets)."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    try:
        port = parts.port
    except ValueError:  # not a port: compared as written
        return url.strip().rstrip("/")
    shown = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{shown}{'' if port in (None, default) else f':{port}'}{parts.path.rstrip('/')}"


def is_loopback(host: str) -> bool:
    # *.localhost is reserved for loopback (RFC 6761); a .local name is any host of the network (mDNS).
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_rate(text: str | float | None) -> float | None:
    """``"60/min"``, ``"2/s"``, ``"120"`` (per minute) or ``"off"`` -> requests per minute."""
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text == 0:
            return None  # "0" means off, as on the command line
        if not 0 < text < float("inf"):
            raise ConfigError(f"rate {text!r}: give requests per minute (> 0), a text like 60/min or 2/s, or off")
        return float(text)
    if not isinstance(text, str):
        raise ConfigError(f"rate {text!r}: give requests per minute, a text like 60/min or 2/s, or off")
    cleaned = text.strip().lower()
    if cleaned in ("off", "none", "0", "unlimited"):
        return None
    number, _, unit = cleaned.partition("/")
    try:
        value = float(number)
    except ValueError:
        raise ConfigError(f"rate {text!r} is not like 60/min, 2/s or off") from None
    per = {"": 1.0, "min": 1.0, "m": 1.0, "minute": 1.0, "s": 60.0, "sec": 60.0, "second": 60.0,
           "h": 1 / 60, "hour": 1 / 60}
    if unit not in per or value <= 0:
        raise ConfigError(f"rate {text!r} is not like 60/min, 2/s or off")
    return value * per[unit]
