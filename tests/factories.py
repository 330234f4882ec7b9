"""The test suite's helpers, in one place: model factories, studies whose images are "done"
without the render engine, judgments as the rater UI stores them, and a browser login.
Test modules import helpers from here only (fixtures live in the conftest files)."""

from __future__ import annotations

import io
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import factory
import kombu.pools
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from PIL import Image as PILImage
from PIL import ImageDraw

from evalsite.celery import app as celery_app
from evalsite.groups import groups_ensure
from evalsite.roles import RATERS, RESEARCHERS
from generation.models import (
    Checkpoint,
    CheckpointSeries,
    GenerationConfig,
    Image,
    ImageScore,
    LoraAdapter,
    Prompt,
)
from generation.services.configs import config_create
from ratings.models import Comparison, Criterion, Judgment, Presentation, Study
from ratings.rerank.services import rerank_study_create
from ratings.services.studies import comparison_create, study_create, study_launch, study_open


class PromptFactory(factory.django.DjangoModelFactory[Prompt]):
    class Meta:
        model = Prompt

    text = factory.Sequence(lambda n: f"threader earrings number {n}, white background")
    category = "threader earrings"
    key_terms = factory.LazyFunction(lambda: ["threader earrings"])


class UserFactory(factory.django.DjangoModelFactory[Any]):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        if extracted:
            groups_ensure()
            self.groups.add(Group.objects.get(name=extracted))
        self.save()


def researcher(**kwargs: Any) -> Any:
    return UserFactory(role=RESEARCHERS, **kwargs)


def rater(**kwargs: Any) -> Any:
    return UserFactory(role=RATERS, **kwargs)


def make_config(**params: Any) -> GenerationConfig:
    params = {"width": 256, "height": 256, "steps": 4, **params}
    config, _ = config_create(**params)
    return config


def make_image(**fields: Any) -> Image:
    fields.setdefault("config", make_config(sampler="euler_a"))
    fields.setdefault("prompt", PromptFactory())
    fields.setdefault("seed", 1)
    return Image.objects.create(**fields)


def rendered_in(image: Image, seconds: float, *, host: str = "gpu-1", ago: float = 30.0) -> Image:
    """Mark an image done as a worker on `host` would have, `ago` seconds ago, after rendering
    for `seconds` (what the render-time estimates read); no file."""
    image.status = Image.Status.DONE
    image.render_seconds = seconds
    image.worker_host = host
    image.rendered_at = timezone.now() - timedelta(seconds=ago)
    image.save()
    return image


def make_study(*, n_configs: int = 3, n_prompts: int = 1, **fields: Any) -> Study:
    samplers = [
        "euler_a",
        "ddim",
        "dpmpp_2m",
        "euler",
        "heun",
        "lms",
        "pndm",
        "unipc",
        "dpmpp_2m_karras",
    ]
    configs = [
        make_config(sampler=samplers[i % len(samplers)], cfg=5.0 + i // len(samplers))
        for i in range(n_configs)
    ]
    prompts = [PromptFactory() for _ in range(n_prompts)]
    fields.setdefault("name", f"study {Study.objects.count() + 1}")
    fields.setdefault("seeds_per_prompt", 1)
    return study_create(prompts=prompts, configs=configs, baseline=configs[0], **fields)


# --- Rendered studies without the render engine ------------------------------------------

PALETTE = [(214, 175, 96), (190, 190, 200), (183, 110, 121), (120, 150, 200), (90, 160, 120)]


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


# --- Judgments as the rater UI stores them ------------------------------------------------


def vote(
    comparison: Comparison,
    user: Any,
    criterion: Criterion,
    outcome: str,
    *,
    left: str = "a",
    repeat: bool = False,
    ms: int | None = 1500,
) -> Judgment:
    """One judgment as the rater UI would store it. outcome: 'a', 'b', 'tie' or 'both_bad'."""
    left_image = comparison.image_a if left == "a" else comparison.image_b
    # One presentation per rater × comparison (× repeat) carries every criterion's vote.
    presentation, _ = Presentation.objects.get_or_create(
        comparison=comparison, rater=user, is_repeat=repeat, defaults={"left": left_image}
    )
    winner = {"a": comparison.image_a, "b": comparison.image_b}.get(outcome)
    return Judgment.objects.create(
        presentation=presentation,
        comparison=comparison,
        rater=user,
        criterion=criterion,
        outcome="win" if winner else outcome,
        winner=winner,
        is_repeat=repeat,
        response_ms=ms,
        flagged_fast=ms is not None and ms < 800,
    )


def launched(n_configs: int = 3, **fields: Any) -> tuple[Study, list[Comparison], Criterion]:
    study = make_study(n_configs=n_configs, **fields)
    study_launch(study=study)
    comparisons = list(study.comparisons.select_related("image_a", "image_b").order_by("id"))
    return study, comparisons, study.criteria.get(key="prompt_adherence")


def by_configs(comparisons: list[Comparison], a: int, b: int) -> Comparison:
    return next(c for c in comparisons if {c.image_a.config_id, c.image_b.config_id} == {a, b})


def decided_study(*, raters: int = 12, name: str | None = None) -> Study:
    """Three configurations, two prompts: the first wins every pair on prompt adherence; on
    the aesthetic criterion every vote is a tie (no configuration ahead). Raters judge0…"""
    study = ready_study(n_configs=3, n_prompts=2, **({"name": name} if name else {}))
    first = min(study.configs.values_list("id", flat=True))
    adherence = study.criteria.get(key="prompt_adherence")
    aesthetic = study.criteria.exclude(pk=adherence.pk).get()
    comparisons = list(study.comparisons.select_related("image_a", "image_b"))
    for i in range(raters):
        user = rater(username=f"judge{i}")
        for comp in comparisons:
            if first in (comp.image_a.config_id, comp.image_b.config_id):
                winner = "a" if comp.image_a.config_id == first else "b"
            else:
                winner = "a" if i % 2 else "b"
            vote(comp, user, adherence, winner, left="a" if i % 2 else "b")
            vote(comp, user, aesthetic, "tie", left="a" if i % 2 else "b")
    return study


# --- Best-of-N studies without the render engine or a scorer model -------------------------


def rerank_ready_study(
    *,
    name: str = "Best of six threader earrings",
    prompts: int = 2,
    candidates: int = 6,
    scorers: Sequence[str] = ("checklist:sharp", "checklist:clean"),
    tournament: int = 3,
    votes_by: int = 0,
) -> Study:
    """An open best-of-N study: candidates painted done and scored (stored scores, so the
    scorers need no LOUPE_SCORERS), pairs built, open to the raters group. The first scorer
    prefers high seeds, the others low seeds; `votes_by` raters (bestof0…) vote for the higher
    seed on every pair and criterion."""
    config = make_config(sampler="euler_a", name=f"{name} config")
    texts = [
        "threader earrings, thin gold chain, white background, studio lighting",
        "huggie hoops, small gold hoop earrings, white background, soft shadow",
        "channel-set diamond band, platinum ring, white background, modern clean",
    ]
    chosen = [
        PromptFactory.create(text=f"{texts[i % len(texts)]} {i}", key_terms=["threader earrings"])
        for i in range(prompts)
    ]
    for p_index, prompt in enumerate(chosen):
        for k in range(candidates):
            image = paint_done(
                Image.objects.create(config=config, prompt=prompt, seed=1234 + k),
                colour=PALETTE[(k + p_index) % len(PALETTE)],
                shape=k,
            )
            for i, metric in enumerate(scorers):
                ImageScore.objects.create(
                    image=image, metric=metric, value=k if i == 0 else -k, model_path="-"
                )
    study = rerank_study_create(
        name=name, config=config, prompts=chosen, candidates=candidates, scorers=list(scorers),
        tournament_size=tournament, base_seed=1234,
    )  # fmt: skip
    study.rater_groups.add(Group.objects.get_or_create(name=RATERS)[0])
    study_launch(study=study)
    study_open(study=study)
    seeds = dict(Image.objects.filter(config=config).values_list("pk", "seed"))
    for r in range(votes_by):
        person = rater(username=f"bestof{r}")
        for comparison in Comparison.objects.filter(study=study):
            higher = "a" if seeds[comparison.image_a_id] > seeds[comparison.image_b_id] else "b"
            for criterion in study.criteria.all():
                vote(comparison, person, criterion, higher, left="a" if r % 2 else "b")
    return study


def series_over(study: Study, *, loss: bool = True) -> CheckpointSeries:
    """Make `study` a series study: a checkpoint series (steps 100, 200, …) whose checkpoints
    are the study's configurations, by the ORM (no files), with a falling loss log."""
    configs = list(study.configs.order_by("pk"))
    adapter = LoraAdapter.objects.create(
        name=f"run {study.pk}", weights="/runs/run.safetensors", sha256="c" * 64
    )
    series = CheckpointSeries.objects.create(
        name=f"Training run {study.pk}",
        folder="/runs",
        base_config=configs[0],
        loss_log=[[s, 0.1 + 0.1 * 0.99**s] for s in range(0, 100 * len(configs) + 1, 20)]
        if loss
        else [],
    )
    for step, config in enumerate(configs, start=1):
        Checkpoint.objects.create(series=series, step=100 * step, adapter=adapter, config=config)
    Study.objects.filter(pk=study.pk).update(series=series)
    study.series = series
    return series


# --- Browser ------------------------------------------------------------------------------


def browser_login(page: Any, live_server: Any, username: str, password: str = "pw") -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def next_card_wait(page: Any, old: str | None) -> None:
    """Wait until the rating page shows a card other than presentation `old` (or none left)."""
    page.wait_for_function(
        "old => { const c = document.getElementById('pair-card');"
        " return c && c.dataset.ready && (c.dataset.presentation || 'done') !== old; }",
        arg=old,
    )


REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`);
});
"""


def csp_watch(page: Any) -> list[str]:
    """Collect the page's console messages, with every CSP violation reported there."""
    messages: list[str] = []
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda message: messages.append(f"{page.url}: {message.text}"))
    page.on("pageerror", lambda error: messages.append(f"{page.url}: page error {error}"))
    return messages


def csp_violations(messages: list[str]) -> list[str]:
    return [m for m in messages if "Content Security Policy" in m or "page error" in m]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now (for a test's own server)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- Fault-test helpers: worker processes, a private Redis, the broker this process uses ---

ROOT = Path(__file__).resolve().parents[1]


class Workers:
    def __init__(self, media_root: Path, log_dir: Path) -> None:
        self.media_root = media_root
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.broker_url = os.environ.get("CELERY_BROKER_URL", "")

    def env(self, **extra: str) -> dict[str, str]:
        db = connection.settings_dict
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "evalsite.test_settings",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "MEDIA_ROOT": str(self.media_root),
            "CELERY_BROKER_URL": self.broker_url,
            **extra,
        }

    def start(self, name: str, *, beat: bool = False, **extra: str) -> subprocess.Popen[bytes]:
        args = [sys.executable, "-m", "celery", "-A", "evalsite", "worker", "-Q", "render",
                "--pool=solo", "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
                "--loglevel=INFO"]  # fmt: skip
        if beat:
            args += ["-B", "--schedule", str(self.log_dir / f"{name}-beat")]
        log = (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            args, cwd=ROOT, env=self.env(**extra), stdout=log, stderr=subprocess.STDOUT
        )
        self.procs.append(proc)
        return proc

    def purge(self) -> None:
        subprocess.run([sys.executable, "-m", "celery", "-A", "evalsite", "purge", "-f", "-Q", "render"],
                       cwd=ROOT, env=self.env(), capture_output=True, timeout=60)  # fmt: skip

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.log_dir.glob("*.log"))


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, crew: Workers) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            counts = dict(Image.objects.values_list("status").annotate(n=Count("pk")))
            raise AssertionError(f"timed out waiting for {what}; images {counts}\n{crew.logs()}")
        time.sleep(0.3)


def all_finished() -> bool:
    return not Image.objects.exclude(status__in=["done", "failed"]).exists()


class PrivateRedis:
    """A redis-server of the test's own, without persistence: stopping it loses every key
    and queued message, as a crash of an unpersisted broker or cache does."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not self.ping():
            assert time.monotonic() < deadline, f"redis-server did not start on {self.port}"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)
        assert not self.ping(), "Redis still answers after being stopped"


def point_broker(url: str) -> None:
    """Make this process publish to `url`, dropping connections pooled for the old broker."""
    # Celery reads the environment variable before its configuration.
    os.environ["CELERY_BROKER_URL"] = url
    celery_app.conf["CELERY_BROKER_URL"] = url
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
        celery_app._pool = None
    celery_app.amqp._producer_pool = None
    # kombu keeps producer pools in a module-wide registry keyed by connection: one made for
    # the old broker would come back for the same URL with its connections closed.
    kombu.pools.reset()


def queued_messages(server: PrivateRedis, queue: str = "render") -> int:
    import redis

    return int(redis.Redis.from_url(server.url).llen(queue))  # type: ignore[arg-type]


# --- Checklist studies ---------------------------------------------------------------------

CHECKLIST_SCHEMA_TEXT = (
    "Metal (material): yellow gold, white gold, platinum\n"
    "Background (background): white background, marble"
)


def ready_checklist_study(
    *,
    n_configs: int = 2,
    n_prompts: int = 2,
    seeds: int = 1,
    schema: str = CHECKLIST_SCHEMA_TEXT,
    configs: Sequence[GenerationConfig] | None = None,
    **fields: Any,
) -> Study:
    """An open checklist study (key terms + a metal and a background field) whose images are
    done, without the engine: prompt i states platinum and a white background."""
    from ratings.checklists.items import schema_parse
    from ratings.checklists.services import checklist_images_add, checklist_study_create

    configs = list(configs or []) or [
        make_config(name=f"Checklist config {i}", sampler=["euler_a", "ddim", "heun", "lms"][i % 4],
                    cfg=5.0 + i // 4)
        for i in range(n_configs)
    ]  # fmt: skip
    prompts = [
        PromptFactory(
            text=f"channel-set diamond band {i}, platinum, white background",
            key_terms=["channel-set", "diamond band"],
            material="platinum",
            background="white background",
        )
        for i in range(n_prompts)
    ]
    fields.setdefault("name", f"checklist {Study.objects.count() + 1}")
    fields.setdefault("seeds_per_prompt", seeds)
    study = checklist_study_create(
        prompts=prompts, configs=configs, fields=schema_parse(schema), **fields
    )
    images = [
        paint_done(
            Image.objects.create(config=config, prompt=prompt, seed=seed),
            colour=PALETTE[i % len(PALETTE)],
            shape=i + seed,
        )
        for prompt in prompts
        for seed in study.seeds()
        for i, config in enumerate(configs)
    ]
    checklist_images_add(study=study, images=images)
    study.status = Study.Status.OPEN
    study.save(update_fields=["status"])
    study.rater_groups.add(Group.objects.get_or_create(name=RATERS)[0])
    return study


def answered_checklist_study(*, raters: int = 3, **fields: Any) -> Study:
    """ready_checklist_study with every image answered by `raters` raters (checker0…): the
    first configuration's images get yes to everything, the others a mix of answers."""
    from ratings.checklists.models import ChecklistShowing
    from ratings.checklists.services import checklist_answers_record, checklist_deal

    study = ready_checklist_study(**fields)
    first = min(study.configs.values_list("id", flat=True))
    for r in range(raters):
        person = rater(username=f"checker{r}")
        while (card := checklist_deal(rater=person, study=study).current) is not None:
            config = ChecklistShowing.objects.get(pk=card.pk).image.config_id
            choices = ("yes", "no", "unsure")
            answers = {
                item.key: "yes" if config == first else choices[(r + i) % 3]
                for i, item in enumerate(card.items)
            }
            checklist_answers_record(rater=person, study=study, showing_id=card.pk, answers=answers)
    return study


_CSRF_VALUE = re.compile(r'(csrfmiddlewaretoken" value="|x-csrftoken": ")[^"]*')
_RANDOM_MEDIA_NAME = re.compile(r"/media/img/[a-z0-9_-]{16,}\.webp")


def blind_leaks(text: str, words: Sequence[str]) -> list[str]:
    """Which of these words (what made an image: a configuration's names, fingerprint, files)
    a rater's page shows. Long words are looked for anywhere; short ones ("cfg", "ddim")
    outside CSRF tokens and random media file names, whose letters and digits spell one now
    and then."""
    raw = text.lower()
    scrubbed = _RANDOM_MEDIA_NAME.sub("/media/img/", _CSRF_VALUE.sub(r"\1", raw))
    return [w for w in words if w and w.lower() in (raw if len(w) >= 12 else scrubbed)]
