"""Field-level diffs for command previews and AI proposals (product.md §6 `preview`)."""

from __future__ import annotations

from typing import Any

from .schema_errors import pointer


def diff(before: Any, after: Any, id_keys: tuple[str, ...] = ("id",), path: tuple = (), *,
         shown: tuple[Any, Any] | None = None) -> list[dict]:
    """Field-level changes [{"path", "before", "after"}]; lists of entities align by id.

    `shown` is the same pair with secrets masked: changes are detected on the real values (so a
    changed passphrase is listed) but reported with the masked ones.
    """
    shown_before, shown_after = shown if shown is not None else (before, after)
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict) \
            and isinstance(shown_before, dict) and isinstance(shown_after, dict):
        out: list[dict] = []
        for key in list(before) + [k for k in after if k not in before]:
            out.extend(diff(before.get(key), after.get(key), id_keys, path + (key,),
                            shown=(shown_before.get(key), shown_after.get(key))))
        return out
    if isinstance(before, list) and isinstance(after, list) \
            and isinstance(shown_before, list) and isinstance(shown_after, list):
        old, new = _by_id(before, id_keys), _by_id(after, id_keys)
        if old is not None and new is not None:
            shown_old = dict(zip(old, shown_before))
            shown_new = dict(zip(new, shown_after))
            out = []
            for ident in list(old) + [i for i in new if i not in old]:
                out.extend(diff(old.get(ident), new.get(ident), id_keys, path + (ident,),
                                shown=(shown_old.get(ident), shown_new.get(ident))))
            return out
    return [{"path": pointer(path), "before": shown_before, "after": shown_after}]


def _by_id(items: list, id_keys: tuple[str, ...]) -> dict | None:
    keyed: dict = {}
    for item in items:
        ident = next((item.get(k) for k in id_keys if isinstance(item, dict)
                      and isinstance(item.get(k), str)), None)
        if ident is None or ident in keyed:
            return None
        keyed[ident] = item
    return keyed
