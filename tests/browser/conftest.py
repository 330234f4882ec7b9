"""Browser fixtures (Debian's Chromium through Playwright) and rendered-study helpers.

Reusable: `chromium_browser` (one browser per session), `browser_page` (a fresh context and
page per test), `browser_login(page, live_server, username)`, and the plain helpers
`paint_done` / `ready_study`, which make "done" images without the render engine.
Media come from the real media view (ratings/media.py), as in production.
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Iterator, Sequence
from itertools import combinations
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import URLPattern, URLResolver, include, path
from PIL import Image as PILImage
from PIL import ImageDraw

from evalsite.roles import RATERS
from generation.models import GenerationConfig, Image
from ratings.models import Study
from ratings.services.studies import comparison_create
from tests.factories import PromptFactory, make_config

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PALETTE = [(214, 175, 96), (190, 190, 200), (183, 110, 121), (120, 150, 200), (90, 160, 120)]


def __getattr__(name: str) -> list[URLPattern | URLResolver]:
    # Built on first use (as the live server's URLconf), so importing the helpers below does
    # not import every view.
    if name != "urlpatterns":
        raise AttributeError(name)
    return [path("", include("evalsite.urls"))]


def paint_done(
    image: Image, *, colour: tuple[int, int, int] = (214, 175, 96), shape: int = 0
) -> Image:
    """Give an image a small picture (a ring on white) and mark it done, like a render would."""
    picture = PILImage.new("RGB", (256, 256), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    inset = 50 + 12 * (shape % 4)
    draw.ellipse(
        (inset, inset, 256 - inset, 256 - inset), outline=colour, width=10 + 4 * (shape % 3)
    )
    draw.ellipse((118, inset - 14, 138, inset + 6), fill=(235, 240, 250), outline=(150, 150, 160))
    display = io.BytesIO()
    picture.save(display, format="WEBP", quality=90)
    master = io.BytesIO()
    picture.save(master, format="PNG")
    image.display_file = default_storage.save(
        f"img/{secrets.token_hex(16)}.webp", ContentFile(display.getvalue())
    )
    image.file = default_storage.save(
        f"masters/{secrets.token_hex(16)}.png", ContentFile(master.getvalue())
    )
    image.status = Image.Status.DONE
    image.save(update_fields=["display_file", "file", "status"])
    return image


def ready_study(
    *,
    n_configs: int = 3,
    n_prompts: int = 1,
    seeds: int = 1,
    configs: Sequence[GenerationConfig] | None = None,
    open_to_raters: bool = True,
    **fields: Any,
) -> Study:
    """An open study whose every image is done and every config pair compared, no engine."""
    from ratings.services.studies import study_create

    if configs is None:
        samplers = ["euler_a", "ddim", "dpmpp_2m", "euler", "heun", "lms", "pndm", "unipc"]
        configs = [
            make_config(name=f"Secret config {i} {samplers[i % 8]}", sampler=samplers[i % 8],
                        cfg=5.0 + i // 8)
            for i in range(n_configs)
        ]  # fmt: skip
    prompts = [
        PromptFactory(
            text=f"channel-set diamond band number {i}, platinum, white background",
            key_terms=["channel-set", "diamond band"],
        )
        for i in range(n_prompts)
    ]
    fields.setdefault("name", f"study {Study.objects.count() + 1}")
    fields.setdefault("seeds_per_prompt", seeds)
    study = study_create(prompts=prompts, configs=list(configs), baseline=configs[0], **fields)
    for prompt in prompts:
        for seed in study.seeds():
            images = [
                paint_done(
                    Image.objects.create(config=config, prompt=prompt, seed=seed),
                    colour=PALETTE[i % len(PALETTE)],
                    shape=i + seed,
                )
                for i, config in enumerate(configs)
            ]
            for first, second in combinations(images, 2):
                comparison_create(study=study, first=first, second=second)
    study.status = Study.Status.OPEN
    study.save(update_fields=["status"])
    if open_to_raters:
        study.rater_groups.add(Group.objects.get_or_create(name=RATERS)[0])
    return study


@pytest.fixture
def browser_urls(settings: Any) -> None:
    """The live server's URLconf: the real one (kept as a hook for browser-only routes)."""
    settings.ROOT_URLCONF = "tests.browser.conftest"


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the ORM calls the tests make
    # around it are ordinary synchronous ones.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        # Later tests start subprocesses (manage.py check --deploy) that must not inherit it.
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_page(chromium_browser: Any, browser_urls: None) -> Iterator[Any]:
    context = chromium_browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def browser_login(page: Any, live_server: Any, username: str, password: str = "pw") -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
