"""A corpus' emotion labels onto ser's names: the user's ``--map OLD=NEW``, then the synonyms.

A label is looked up case-insensitively, blanks around it ignored: first in the user's
mapping (``{"frustrated": "angry"}``; a target of ``"drop"`` or ``""`` leaves those clips
out), then in :data:`~ser.corpora.emotions.EMOTION_SYNONYMS`. A label found in neither is
unknown, and :func:`unknown_labels_error` lists every one of them with its counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from ser.common.errors import DataError

from .emotions import EMOTIONS, canonical_emotion

__all__ = ["DROP", "label_resolver", "parse_label_map", "unknown_labels_error"]

#: The ``--map`` target that leaves a label's clips out (``""`` does the same).
DROP = "drop"


def parse_label_map(items: str | Iterable[str] | None) -> dict[str, str]:
    """``--map`` options (``"frustrated=angry"``, repeatable; commas separate several in one
    option) as a mapping ``{old: new}``, keys lower-case. ``"excited=drop"`` drops a label;
    ``"=drop"`` drops clips with an empty label.

    Raises
    ------
    DataError
        For an item without ``=``, or one label mapped twice to different targets.
    """
    if items is None:
        return {}
    if isinstance(items, str):
        items = [items]
    mapping: dict[str, str] = {}
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            old, sep, new = part.partition("=")
            if not sep:
                raise DataError(
                    f"--map {part.strip()!r}: expected OLD=NEW, e.g. --map frustrated=angry "
                    f"(or OLD=drop to leave those clips out)"
                )
            key, new = old.strip().lower(), new.strip()
            if mapping.get(key, new) != new:
                raise DataError(f"--map: {old.strip()!r} mapped twice ({mapping[key]}, {new})")
            mapping[key] = new
    return mapping


def label_resolver(mapping: Mapping[str, str] | None = None) -> Callable[[str], str | None]:
    """A function from a corpus' label to ser's emotion name, ``""`` when ``mapping`` drops
    it, and ``None`` when it is unknown.

    Raises
    ------
    DataError
        When a target of ``mapping`` is neither one of ser's emotions (or a synonym of one)
        nor ``"drop"``/``""``.
    """
    table: dict[str, str] = {}
    for old, new in (mapping or {}).items():
        target = new.strip().lower()
        if target in ("", DROP):
            table[old.strip().lower()] = ""
            continue
        emotion = canonical_emotion(target)
        if emotion is None:
            raise DataError(
                f"--map {old}={new}: {new!r} is not an emotion ser knows; "
                f"valid: {', '.join(EMOTIONS)}, or {DROP} to leave those clips out"
            )
        table[old.strip().lower()] = emotion

    def resolve(label: str) -> str | None:
        key = label.strip().lower()
        mapped = table.get(key)
        return mapped if mapped is not None else canonical_emotion(key)

    return resolve


def unknown_labels_error(unknown: Counter[tuple[str, str]]) -> DataError:
    """One :class:`DataError` naming every unknown label, with its count in each source.

    ``unknown`` counts ``(source name, label as written)``; labels that differ only in case
    or surrounding blanks are listed once, by their first spelling.
    """
    spelled: dict[str, str] = {}
    per_label: dict[str, Counter[str]] = {}
    for (source, label), n in unknown.items():
        key = label.strip().lower()
        spelled.setdefault(key, label.strip())
        per_label.setdefault(key, Counter())[source] += n
    order = sorted(per_label, key=lambda k: (-sum(per_label[k].values()), k))
    listed = "; ".join(
        f"{spelled[k]!r} ({', '.join(f'{n} in {s}' for s, n in per_label[k].most_common())})"
        for k in order
    )
    example = spelled[order[0]] or "''"
    return DataError(
        f"{len(order)} unknown emotion label(s): {listed}. ser's emotions are "
        f"{', '.join(EMOTIONS)}; map each label with --map OLD=NEW (NEW an emotion, or "
        f"{DROP} to leave its clips out), e.g. --map {example}={DROP}"
    )
