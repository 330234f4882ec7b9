"""The images a study or grid needs: one per configuration × prompt × seed, made once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from generation.models import Image

#: configuration id, prompt id, seed
ImageKey = tuple[int, int, int]


@dataclass(frozen=True)
class EnsuredImages:
    images: dict[ImageKey, Image]
    created: int
    reused: int


def _existing(keys: list[ImageKey]) -> dict[ImageKey, Image]:
    """The existing images of `keys`, in one query (the keys are a configuration × prompt ×
    seed grid: the rows read beyond them, if any, are dropped)."""
    wanted = set(keys)
    found = Image.objects.filter(
        config_id__in={c for c, _, _ in keys},
        prompt_id__in={p for _, p, _ in keys},
        seed__in={s for _, _, s in keys},
    )
    by_key = {(i.config_id, i.prompt_id, i.seed): i for i in found}
    return {k: i for k, i in by_key.items() if k in wanted}


def images_ensure(keys: Iterable[ImageKey]) -> EnsuredImages:
    """The image of every key, creating the missing ones in one insert; existing images
    (rendered or not, made by any study or grid) are reused. Call inside a transaction.

    A concurrent caller inserting the same key is absorbed by the unique constraint: that
    image counts as created by whichever caller found it missing.
    """
    wanted = list(dict.fromkeys(keys))
    found = _existing(wanted)
    missing = [k for k in wanted if k not in found]
    if missing:
        Image.objects.bulk_create(
            [Image(config_id=c, prompt_id=p, seed=s) for c, p, s in missing],
            ignore_conflicts=True,
        )
        found.update(_existing(missing))
        # SQLite's INSERT OR IGNORE also skips a row that breaks a check (a seed out of range).
        lost = [k for k in missing if k not in found]
        if lost:
            raise ValueError(f"Could not create the image of (config, prompt, seed) {lost[0]}.")
    return EnsuredImages(
        images={k: found[k] for k in wanted},
        created=len(missing),
        reused=len(wanted) - len(missing),
    )
