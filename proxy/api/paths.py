"""Request targets: validated before anything else looks at them.

Only origin-form targets (`/path?query`) are served: an absolute-form
(`http://host/v1/...`), authority-form (`host:443`) or asterisk-form (`*`) target
is refused, so nothing in the request line can name another host. The whole path,
a multi-tenant user id included, is percent-decoded once before validation:
`.`/`..` segments, encoded slashes and backslashes, and control characters are
refused with 400 `invalid_path`. A double-encoded sequence is decoded once only:
`%252f` is the text `%2f`, not a slash (forwarded as `%252f`). The common case (a
plain ASCII origin-form path) costs four substring tests.

The hot path sends the same few targets again and again, so the splits are memoised
per target (a dict lookup): only accepted targets of at most 256 characters are
kept, at most 4096 of each kind, so a refusal is decided afresh and the memos stay
small.
"""

from __future__ import annotations

import re
from typing import TypeVar
from urllib.parse import quote, unquote

from proxy.errors import InvalidPathError, InvalidUserIdError, NotFoundError

_PATH_SAFE = "/!$&'()*+,;=:@-._~"
_USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_USERS = "/users/"


def split_path(raw_path: str) -> tuple[str, str]:
    """(canonical path, raw query) from the request target as the client sent it."""
    found = _TARGETS.get(raw_path)
    if found is None:
        found = _remember(_TARGETS, raw_path, _split_path(raw_path))
    return found


def split_user_target(raw_path: str) -> tuple[str, str, str]:
    """(user id, `/v1/...` path, raw query) from a multi-tenant request target:
    `split_path`, then `split_user_path`, memoised as one."""
    found = _USER_TARGETS.get(raw_path)
    if found is None:
        path, query = _split_path(raw_path)
        user_id, path = split_user_path(path)
        found = _remember(_USER_TARGETS, raw_path, (user_id, path, query))
    return found


_MEMO_SIZE = 4096
_MEMO_MAX_TARGET = 256
_TARGETS: dict[str, tuple[str, str]] = {}
_USER_TARGETS: dict[str, tuple[str, str, str]] = {}
_Split = TypeVar("_Split", tuple[str, str], tuple[str, str, str])


def _remember(memo: dict[str, _Split], raw_path: str, found: _Split) -> _Split:
    if len(raw_path) <= _MEMO_MAX_TARGET:
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[raw_path] = found
    return found


def _split_path(raw_path: str) -> tuple[str, str]:
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
    """
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
