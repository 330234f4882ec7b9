"""Set up a site: the groups, and either the demo or an administrator.

The demo (DEBUG=1, as `make run` does, or an explicit --demo): two accounts with published
passwords, the jewelry prompts, configurations around a baseline, a study. Otherwise
(production): no demo accounts; an administrator is created if none exists, with the password
in LOUPE_ADMIN_PASSWORD or a generated one printed once. An existing account is never changed:
no password is ever reset by a rerun.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from evalsite.groups import groups_ensure
from evalsite.roles import RATERS, RESEARCHERS
from generation.constants import BUILTIN_MODELS, TINY_RANDOM
from generation.models import CheckpointSeries, GenerationConfig, Prompt
from generation.series_demo import demo_series_write
from generation.services.configs import config_create
from generation.services.prompts import prompt_create
from generation.services.series import series_register
from ratings.checklists.items import schema_parse
from ratings.checklists.services import checklist_study_create
from ratings.models import Study
from ratings.services.studies import LaunchResult, study_create, study_launch, study_open

ACCOUNTS = (("researcher", "loupe-research", RESEARCHERS), ("rater", "loupe-rate", RATERS))
NEGATIVE = "low quality, clutter, vintage, overly ornate"
PROMPTS: tuple[dict[str, Any], ...] = (
    {
        "text": "threader earrings, thin gold chain, white background, studio lighting, minimalist",
        "category": "threader earrings",
        "key_terms": ["threader earrings", "thin gold chain"],
        "material": "gold", "setting": "chain", "background": "white background",
        "style": "minimalist", "trigger_token": "phol",
    },
    {
        "text": "channel-set diamond band, platinum ring, white background, studio lighting, modern clean",
        "category": "channel-set band",
        "key_terms": ["channel-set", "diamond band"],
        "material": "platinum", "setting": "channel-set", "stone": "diamond",
        "background": "white background", "style": "modern clean", "trigger_token": "sks",
    },
    {
        "text": "huggie hoops, small gold hoop earrings, white background, soft shadow, modern minimalist",
        "category": "huggie hoops",
        "key_terms": ["huggie hoops", "small gold hoop earrings"],
        "material": "gold", "setting": "hoop", "background": "white background",
        "style": "modern minimalist",
    },
)  # fmt: skip
BASELINE: dict[str, Any] = {"sampler": "euler_a", "steps": 20, "cfg": 7.0, "compel_level": "none"}
VARIATIONS: tuple[dict[str, Any], ...] = (
    {"sampler": "ddim"},
    {"sampler": "dpmpp_2m"},
    {"cfg": 5.0},
    {"cfg": 9.0},
    {"steps": 30},
    {"compel_level": "medium"},
)
STUDY_NAME = "Demo: sampler, CFG, steps and compel for jewelry"
CHECKLIST_NAME = "Demo: key-term checklist"
CHECKLIST_SCHEMA = (
    "Metal (material): gold, platinum, silver, rose gold\n"
    "Background (background): white background, marble, linen\n"
    "Style (style): minimalist, modern clean, modern minimalist, ornate"
)
SERIES_NAME = "Demo: jewelry LoRA training run"
SERIES_FOLDER = "demo-series"
ADMIN_USERNAME_ENV = "LOUPE_ADMIN_USERNAME"
ADMIN_PASSWORD_ENV = "LOUPE_ADMIN_PASSWORD"


class Command(BaseCommand):
    help = (
        "Create the groups and, for the demo (DEBUG=1 or --demo), the demo accounts, prompts, "
        "configurations and study; otherwise an administrator if there is none "
        f"(password from {ADMIN_PASSWORD_ENV}, or generated and printed once). Idempotent; "
        "never changes an existing account."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--demo",
            action="store_true",
            help="Create the demo accounts (published passwords) and study even with DEBUG=0.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["demo"] or settings.DEBUG:
            self._demo()
        else:
            with transaction.atomic():
                groups_ensure()
                self._admin()

    def _admin(self) -> None:
        users = get_user_model()
        existing = users.objects.filter(is_superuser=True).order_by("pk").first()
        if existing is not None:
            self.stdout.write(
                f"An administrator exists ({existing.get_username()}); no account was changed."
            )
            return
        username = os.environ.get(ADMIN_USERNAME_ENV, "").strip() or "admin"
        if users.objects.filter(username=username).exists():
            raise CommandError(
                f"{ADMIN_USERNAME_ENV}: a user named {username!r} exists and is not an "
                "administrator; choose another name (existing accounts are never changed)."
            )
        given = os.environ.get(ADMIN_PASSWORD_ENV, "")
        password = given or secrets.token_urlsafe(18)
        candidate = users(username=username)
        try:
            validate_password(password, candidate)
        except ValidationError as error:
            raise CommandError(f"{ADMIN_PASSWORD_ENV}: {' '.join(error.messages)}") from error
        users.objects.create_superuser(username=username, email="", password=password)
        if given:
            self.stdout.write(
                f"Administrator {username!r} created with the password in {ADMIN_PASSWORD_ENV}."
            )
        else:
            # Shown this once only: it is stored hashed and never printed again.
            self.stdout.write(
                f"Administrator {username!r} created. Password (shown once, store it now): "
                f"{password}"
            )

    def _demo(self) -> None:
        with transaction.atomic():
            groups_ensure()
            created = self._accounts()
            prompts = [self._prompt(p) for p in PROMPTS]
            model = settings.LOUPE_MODEL
            # The built-in random models are for trying Loupe on a CPU: keep them small.
            size = 256 if model in BUILTIN_MODELS else 512
            common: dict[str, Any] = {
                "base_model": model,
                "negative_prompt": NEGATIVE,
                "width": size,
                "height": size,
            }
            baseline, _ = config_create(name="Baseline: Euler a · 20 · CFG 7", **common, **BASELINE)
            configs = [baseline]
            for change in VARIATIONS:
                label = ", ".join(f"{k} {v}" for k, v in change.items())
                config, _ = config_create(
                    name=f"Baseline with {label}", **common, **{**BASELINE, **change}
                )
                configs.append(config)
            study, result = self._demo_study(
                STUDY_NAME,
                lambda: study_create(
                    name=STUDY_NAME,
                    prompts=prompts,
                    configs=configs,
                    baseline=baseline,
                    design=Study.Design.ONE_FACTOR,
                    seeds_per_prompt=2,
                    instructions=(
                        "Pick the image that better answers each question. We want **modern, "
                        "clean** jewelry photography (think Mejuri, Catbird), not ornate catalogue shots."
                    ),
                ),
            )
            checklist = self._demo_checklist(prompts, [baseline, configs[4], configs[6]])
        self.stdout.write(
            f"Demo study '{study.name}': {len(configs)} configurations, {len(prompts)} prompts, "
            f"{result.images_created} new images ({result.images_reused} reused), "
            f"{result.comparisons_created} new comparisons."
        )
        self.stdout.write(
            f"Demo checklist '{checklist.name}': the same images, answered one at a time "
            f"(results at /studies/{checklist.pk}/checklist/)."
        )
        self._demo_series(baseline)
        users = get_user_model()
        for username, password, group in ACCOUNTS:
            user = users.objects.get(username=username)
            if username in created or user.check_password(password):
                self.stdout.write(f"  login {username} / {password}  ({group})")
            else:
                self.stdout.write(f"  login {username}  ({group}; its own password, unchanged)")

    def _accounts(self) -> set[str]:
        """Create the demo accounts that do not exist; an existing one is left as it is."""
        users = get_user_model()
        created = set()
        for username, password, group in ACCOUNTS:
            if users.objects.filter(username=username).exists():
                continue
            # Researchers work in the admin too; its pages are limited by the group's permissions.
            user = users.objects.create_user(
                username=username, password=password, is_staff=group == RESEARCHERS
            )
            user.groups.add(Group.objects.get(name=group))
            created.add(username)
        return created

    def _prompt(self, fields: dict[str, Any]) -> Prompt:
        existing = Prompt.objects.filter(text=fields["text"]).first()
        return existing or prompt_create(**fields)

    def _demo_checklist(self, prompts: list[Prompt], configs: list[Any]) -> Study:
        """A key-term checklist over three of the demo's configurations and the prompts'
        first seed: its images are the pairwise demo's (rendered once), so its adherence can
        be read against that study's wins. Made once; a rerun launches it again (a no-op)."""
        study, _ = self._demo_study(
            CHECKLIST_NAME,
            lambda: checklist_study_create(
                name=CHECKLIST_NAME,
                prompts=prompts,
                configs=configs,
                fields=schema_parse(CHECKLIST_SCHEMA),
                seeds_per_prompt=1,
                target_judgments=3,
                instructions="For each item, answer what you **see** in the image, not what "
                "the prompt asks for. Can't tell is a fine answer.",
            ),
        )
        return study

    def _demo_study(self, name: str, create: Callable[[], Study]) -> tuple[Study, LaunchResult]:
        """The demo study `name`: made by `create` and given to the raters group the first
        time, launched every time (a rerun only queues what is missing). A new one is opened at
        once, so raters get work as soon as it is rendered; a rerun leaves the status alone (a
        researcher may have closed it since)."""
        study = Study.objects.filter(name=name).first()
        made = study is None
        if study is None:
            study = create()
            study.rater_groups.add(Group.objects.get(name=RATERS))
        result = study_launch(study=study)
        if made:
            study_open(study=study)
        return study, result

    def _demo_series(self, baseline: GenerationConfig) -> None:
        """A LoRA training run (4 checkpoints and loss.csv) for the tiny-random model, written
        into the first adapter folder and registered as a checkpoint series."""
        if CheckpointSeries.objects.filter(name=SERIES_NAME).exists():
            return
        if baseline.base_model != TINY_RANDOM or not settings.LOUPE_ADAPTER_ROOTS:
            self.stdout.write(
                "No demo checkpoint series: it is made for the tiny-random model and needs an "
                "adapter folder (LOUPE_ADAPTER_ROOTS)."
            )
            return
        folder = Path(settings.LOUPE_ADAPTER_ROOTS[0]) / SERIES_FOLDER
        demo_series_write(folder)
        series = series_register(
            name=SERIES_NAME, folder=str(folder), base_config=baseline, trigger_token="phol"
        )
        self.stdout.write(
            f"Demo checkpoint series '{series.name}': {series.checkpoints.count()} checkpoints "
            f"and {len(series.loss_log)} loss rows from {folder}."
        )
