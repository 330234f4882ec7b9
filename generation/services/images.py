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
    by_key: dict[ImageKey, Image] = {}
    # One query per configuration and prompt set: the unique index answers each.
    configs = {c for c, _, _ in keys}
    for config_id in configs:
        wanted = [(p, s) for c, p, s in keys if c == config_id]
        found = Image.objects.filter(
            config_id=config_id,
            prompt_id__in={p for p, _ in wanted},
            seed__in={s for _, s in wanted},
        )
        for image in found:
            by_key[(image.config_id, image.prompt_id, image.seed)] = image
    return by_key


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
