"""Text fit to print, log or store: the secrets a storage URL or a key=value pair holds, hidden."""

from __future__ import annotations

import re

__all__ = ["SECRET_KEY_WORDS", "redact"]

# scheme://user:password@host -> the password part (up to the last @ before the host).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s\"']*:)"
                           r"(?P<value>[^\s\"']*)(?=@)")
#: Words that make a key secret: its value is hidden wherever the key stands in a URL's query
#: (``?password=...``, ``&sslpassword=...``), a libpq conninfo string (``password='...'``), or a
#: dict or JSON (``'password': '...'``). Matched anywhere in the key, case-insensitively, so
#: ``sslpassword``, ``PGPASSWORD``, ``auth_token`` and ``client_secret`` are secret. Keys naming a
#: *file* that holds a secret (``passfile``, ``sslkey``, ``sslcert``) are not: their value is a
#: path, kept so that a message can say which file is wrong (hpsearch never reads the file).
SECRET_KEY_WORDS = ("password", "passwd", "pwd", "secret", "token", "apikey", "api_key",
                    "api-key", "credential")
_KEY = (r"[A-Za-z0-9_.-]*(?:" + "|".join(map(re.escape, SECRET_KEY_WORDS))
        + r")[A-Za-z0-9_.-]*")
# A value: quoted (conninfo, repr, JSON; backslash escapes; an unclosed quote runs to the end)
# or bare, up to a space, a quote or the next query parameter, and short of a colon that ends
# it ("...?password=***: connection failed"). Too much rather than too little otherwise; an
# already redacted one is left as it is (redacting twice changes nothing).
_VALUE = (r"""(?:'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|\*\*\*(?![^\s&#'",;)\]}])"""
          r"""|(?:[^\s&#'":]|:(?!\s|$))+)""")
# key=value, key = value; a quoted key also 'key': value (a dict's repr, JSON).
_SECRET_PAIR = re.compile(
    rf"""(?P<head>(?<![A-Za-z0-9_.-])(?P<q>['"]?)(?:{_KEY})(?P=q)\s*(?:=|(?<=['"]):)\s*)"""
    rf"(?P<value>{_VALUE})", re.IGNORECASE)
#: Shorter secret values are not hunted for in free text (they would hit ordinary words); they
#: are still hidden where they stand in a URL or after their key.
_MIN_HUNTED = 4


def redact(text: str, *, url: str | None = None) -> str:
    """Text fit to print, log or store: every secret a URL or a key=value pair holds is ``***``.

    Hidden: the password in a URL's user info (``postgresql://user:***@host/db``) and the value
    of every key naming a secret (``SECRET_KEY_WORDS``) in a URL's query (``?password=***``,
    ``&sslpassword=***``), a libpq conninfo string (``password=***``) or a dict or JSON
    (``'password': '***'``). Keys, user names, hosts and paths are kept: the message still says
    what was given.

    Args:
        text: any text: a URL, an error message, a log line, a study file.
        url: the URL ``text`` is about (an error from opening it): its secret values are hidden
            also where ``text`` quotes them in another form (percent-decoded, without the key).
    """
    out = _SECRET_PAIR.sub(_hide_value, _URL_PASSWORD.sub(r"\g<head>***", text))
    for value in sorted(_secret_values(url) if url else (), key=len, reverse=True):
        out = out.replace(value, "***")
    return out


def _hide_value(match: re.Match[str]) -> str:
    value = match["value"]
    quote = value[0] if value[0] in "'\"" else ""
    return f"{match['head']}{quote}***{quote}"


def _secret_values(url: str) -> set[str]:
    """The secrets ``url`` holds, as written and percent-decoded (those long enough to hunt)."""
    from urllib.parse import unquote, unquote_plus

    raw = [m["value"] for m in _URL_PASSWORD.finditer(url)]
    raw += [m["value"].strip("'\"") for m in _SECRET_PAIR.finditer(url)]
    forms = {form for value in raw for form in (value, unquote(value), unquote_plus(value))}
    return {form for form in forms if len(form) >= _MIN_HUNTED and form != "***"}
