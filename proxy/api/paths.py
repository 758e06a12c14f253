"""Request targets: validated before anything else looks at them.

Only origin-form targets (`/path?query`) are served: an absolute-form
(`http://host/v1/...`), authority-form (`host:443`) or asterisk-form (`*`) target
is refused, so nothing in the request line can name another host. The whole path,
a multi-tenant user id included, is percent-decoded once before validation:
`.`/`..` segments, encoded slashes and backslashes, and control characters are
refused with 400 `invalid_path`. A double-encoded sequence is decoded once only:
`%252f` is the text `%2f`, not a slash (forwarded as `%252f`). The common case (a
plain ASCII origin-form path) costs four substring tests.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from proxy.errors import InvalidPathError, InvalidUserIdError, NotFoundError

_PATH_SAFE = "/!$&'()*+,;=:@-._~"
_USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_USERS = "/users/"


def split_path(raw_path: str) -> tuple[str, str]:
    """(canonical path, raw query) from the request target as the client sent it."""
    if not raw_path.startswith("/"):
        raise InvalidPathError("Only origin-form request targets ('/v1/...') are served.")
    path, _, query = raw_path.partition("?")
    if "%" in path or "\\" in path or "/." in path:
        path = _canonical(path)
    return path, query


def _canonical(path: str) -> str:
    lowered = path.lower()
    if "\\" in path or "%2f" in lowered or "%5c" in lowered:
        raise InvalidPathError("Encoded slashes and backslashes are not allowed in the path.")
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise InvalidPathError("The path is not valid UTF-8 once decoded.") from None
    if any(segment in (".", "..") for segment in decoded.split("/")):
        raise InvalidPathError("'.' and '..' segments are not allowed in the path.")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in decoded):
        raise InvalidPathError("Control characters are not allowed in the path.")
    return quote(decoded, safe=_PATH_SAFE)


def split_user_path(path: str) -> tuple[str, str]:
    """(user id, `/v1/...` path) from `/users/{user_id}/v1/...` as `split_path` returns it.

    The path was decoded and validated whole, so a traversal or an encoded slash in
    the id is already a 400 `invalid_path`; an id that needed percent-encoding keeps
    it in the canonical path and fails the id check.

    Memoised per canonical path (a dict lookup: the hot path sends the same few paths
    again and again): only accepted paths of at most 256 characters are kept, at most
    4096 of them, so a refusal is decided afresh and the memo stays small.
    """
    found = _SPLITS.get(path)
    if found is None:
        found = _split_user_path(path)
        if len(path) <= _SPLITS_MAX_PATH:
            if len(_SPLITS) >= _SPLITS_SIZE:
                _SPLITS.clear()
            _SPLITS[path] = found
    return found


_SPLITS: dict[str, tuple[str, str]] = {}
_SPLITS_SIZE = 4096
_SPLITS_MAX_PATH = 256


def _split_user_path(path: str) -> tuple[str, str]:
    start = len(_USERS)
    slash = path.find("/", start)
    if slash < 0:
        check_user_id(path[start:])
        raise NotFoundError("Unknown path: use /users/{user_id}/v1/...")
    user_id = check_user_id(path[start:slash])
    if not path.startswith("/v1/", slash):
        raise NotFoundError("Unknown path: use /users/{user_id}/v1/...")
    return user_id, path[slash:]


def check_user_id(user_id: str) -> str:
    if _USER_ID.fullmatch(user_id) is None:
        raise InvalidUserIdError(
            "The user id must be 1-128 characters of A-Z, a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit.",
            param="user_id",
        )
    return user_id
