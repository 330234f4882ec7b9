"""Load on the rating path: simulated raters voting over loopback against gunicorn + PostgreSQL.

    .venv/bin/python bench/rate_load.py [--quick] [--raters 50] [--seconds 25]
    .venv/bin/python bench/rate_load.py --raters 100 --seconds 60     # the long load run
    .venv/bin/python bench/rate_load.py --orm    # also every other vote through plain querysets
    .venv/bin/python bench/rate_load.py --checklist    # checklist answers instead of votes

Creates a throwaway database on 127.0.0.1:5432 (user postgres), seeds an open study whose
images are "done" (then ANALYZE, as a live database has statistics), starts gunicorn on a free
loopback port, and runs two phases:

* load (`--seconds`): every rater alternates a trivial Django view (the baseline: same
  middleware, session and user lookup) with a vote that returns the next pair (the
  candidate), both through htmx as the browser does, then looks at the new pair for a while
  (`--think`). p50/p95 are taken per third of the phase; each figure is the median of the
  three.
* throughput (a third of `--seconds`, at least 3 s): all raters on the trivial view only, then
  on votes only, with no pause, twice over; votes/s and views/s are the median of the two.

Server time is measured inside the WSGI app around Django (a `Server-Timing: app;dur=…`
header added by this module's wrapper), so it leaves out gunicorn's queue and the client;
round trip is what the client saw. Afterwards the database is counted: every vote the server
acknowledged ("Vote recorded.") must have one stored judgment per criterion (lost = acked −
stored), and no rater × pair × criterion may be stored twice (duplicated = stored − distinct).
Bounded: at most 500 raters and 600 s, each request times out after 30 s, the run stops by
itself, and everything stays on 127.0.0.1. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from benchdb import HOST, throwaway_django

ROOT = Path(__file__).resolve().parent.parent
SERVER_TIMING = re.compile(r"\bapp;dur=([0-9.]+)")
CPU_TIMING = re.compile(r"\bcpu;dur=([0-9.]+)")
REQUEST_TIMEOUT = 30.0
MAX_RATERS = 500
MAX_SECONDS = 600.0
WINDOWS = 3  # the load phase is cut in this many parts; figures are their median
ROUNDS = 2  # throughput: trivial view then votes, this many times
CRITERIA = ("prompt_adherence", "modern_aesthetic")  # the study's default criteria
Sample = tuple[float, float, float]  # finished at, round trip ms, server ms


# --- the WSGI side: gunicorn imports this module as `rate_load:application` ---------------


def ping(request: Any) -> Any:
    from django.http import HttpResponse

    return HttpResponse("ok")


def __getattr__(name: str) -> Any:
    # This module is also the URLconf of the served app: the real URLs plus the trivial view.
    if name != "urlpatterns":
        raise AttributeError(name)
    from django.urls import include, path

    return [path("bench/ping/", ping), path("", include("evalsite.urls"))]


def _wsgi() -> Callable[..., Iterable[bytes]]:
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    settings.ROOT_URLCONF = __name__
    django_app = get_wsgi_application()

    from ratings.statements import plain_orm

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started, cpu = time.perf_counter(), time.thread_time()
        # --orm: this request's rating reads go through plain querysets (ratings.statements).
        plain = environ.get("HTTP_X_LOUPE_PLAIN_ORM") == "1"

        def timed(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            ms = (time.perf_counter() - started) * 1000
            cpu_ms = (time.thread_time() - cpu) * 1000  # this thread's own CPU, in Python
            timing = f"app;dur={ms:.3f}, cpu;dur={cpu_ms:.3f}"
            return start_response(status, [*headers, ("Server-Timing", timing)], *rest)

        with plain_orm(plain):
            return django_app(environ, timed)

    return application


if __name__ != "__main__" and os.environ.get("LOUPE_BENCH_SERVE") == "1":
    application = _wsgi()


# --- the driver -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _seed(n_raters: int, n_prompts: int) -> tuple[int, list[str]]:
    """An open study of rendered images, every pair of 8 configurations per prompt and seed
    (on the throwaway database); returns (study id, session keys)."""
    from generation.services.prompts import prompt_create
    from ratings.services.studies import comparisons_ensure, study_create

    configs = eight_configs()
    prompts = [
        prompt_create(text=f"huggie hoops number {i}, white background", category="huggie hoops",
                      key_terms=["huggie hoops"])
        for i in range(n_prompts)
    ]  # fmt: skip
    study = study_create(name="bench", prompts=prompts, configs=configs, seeds_per_prompt=2)
    assert tuple(study.criteria.values_list("key", flat=True)) == CRITERIA
    pairs = []
    for prompt in prompts:
        for seed in study.seeds():
            images = done_images(configs, prompt, seed)
            pairs += [(first, second, None) for i, first in enumerate(images)
                      for second in images[i + 1 :]]  # fmt: skip
    comparisons_ensure(study=study, pairs=pairs)
    return study.pk, open_to_raters(study, n_raters)


def eight_configs() -> list[Any]:
    """Eight configurations, one per sampler (the role groups exist already: migrate makes
    them, ratings.apps)."""
    from generation.services.configs import config_create

    samplers = ["euler_a", "ddim", "dpmpp_2m", "euler", "heun", "lms", "pndm", "unipc"]
    return [
        config_create(name=f"c{i}", sampler=s, steps=20, cfg=7.0, width=512, height=512)[0]
        for i, s in enumerate(samplers)
    ]


def done_images(configs: list[Any], prompt: Any, seed: int) -> list[Any]:
    """One image per configuration of `prompt` and `seed`, marked rendered (no file is read:
    the benches never open an image), in one insert."""
    from generation.models import Image

    return Image.objects.bulk_create(
        Image(config=c, prompt=prompt, seed=seed, status=Image.Status.DONE,
              display_file=f"img/{secrets.token_hex(16)}.webp")
        for c in configs
    )  # fmt: skip


def open_to_raters(study: Any, n_raters: int) -> list[str]:
    """Open the study to the raters group, sign in `n_raters` raters (their session keys),
    then ANALYZE, as a live database has statistics."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client

    from evalsite.roles import RATERS
    from ratings.models import Study

    study.status = Study.Status.OPEN
    study.save()
    raters = Group.objects.get(name=RATERS)
    study.rater_groups.add(raters)
    sessions = []
    for i in range(n_raters):
        user = get_user_model().objects.create_user(username=f"bench{i}", password=None)
        user.groups.add(raters)
        client = Client()
        client.force_login(user)
        sessions.append(client.cookies["sessionid"].value)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return sessions


class Rater(threading.Thread):
    """One simulated rater on its own keep-alive connection."""

    def __init__(
        self,
        port: int,
        study: int,
        session: str,
        stop_at: float,
        mode: str,
        think: float,
        orm: bool = False,
    ) -> None:
        super().__init__(daemon=True)
        self.port, self.study, self.stop_at, self.mode = port, study, stop_at, mode
        self.think = think
        self.orm = orm  # every other vote through the plain-ORM path
        self.votes = 0
        self.random = random.Random(session)
        token = secrets.token_hex(16)
        self.headers = {
            "Cookie": f"sessionid={session}; csrftoken={token}",
            "X-CSRFToken": token,
            "HX-Request": "true",
            "Host": HOST,
        }
        self.conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
        self.samples: dict[str, list[Sample]] = {"vote": [], "ping": [], "orm": []}
        self.acked: list[int] = []  # presentations whose vote the server confirmed
        self.already = 0
        self.errors = 0
        self.unsure: list[int] = []  # presentations whose vote got no answer (may be stored)
        self.finished = False  # nothing left to judge
        self.cpu: dict[str, list[float]] = {}  # server CPU ms by kind of request

    def _request(
        self, method: str, path: str, body: str | None = None, plain: bool = False
    ) -> tuple[int, str, float, float]:
        headers = dict(self.headers)
        if plain:
            headers["X-Loupe-Plain-ORM"] = "1"
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            text = response.read().decode()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT)
            raise
        rtt = (time.perf_counter() - started) * 1000
        header = response.getheader("Server-Timing") or ""
        timing, cpu = SERVER_TIMING.search(header), CPU_TIMING.search(header)
        kind = (
            "vote"
            if path.endswith(("vote/", "answer/"))
            else "ping"
            if "/ping/" in path
            else "other"
        )
        kind = "orm" if plain and kind == "vote" else kind
        self.cpu.setdefault(kind, []).append(float(cpu.group(1)) if cpu else math.nan)
        return response.status, text, rtt, float(timing.group(1)) if timing else math.nan

    #: The rating page (first GET), where answers are posted, and what confirms one.
    page, answer_path, recorded = "/rate/{study}/?go=1", "/rate/{study}/vote/", "Vote recorded."

    def _answer(self, html: str) -> tuple[int, str] | None:
        """The card's id and the POST body answering it; None when no card is left."""
        match = re.search(r'data-presentation="(\d+)"', html)
        if match is None:
            return None
        shown = int(match.group(1))
        return shown, urlencode({"presentation": shown, **{f"c-{key}": self.random.choice(
            ["left", "right", "tie", "both_bad"]) for key in CRITERIA}, "response_ms": "1500"})  # fmt: skip

    def run(self) -> None:
        try:
            status, html, _, _ = self._request("GET", self.page.format(study=self.study))
        except (OSError, http.client.HTTPException):
            self.errors += 1
            return
        if status != 200:
            self.errors += 1
            return
        while time.time() < self.stop_at:
            if self.mode != "vote" and not self._ping():
                continue
            if self.mode == "ping":
                continue
            answer = self._answer(html)
            if answer is None:
                self.finished = True
                return
            shown, body = answer
            plain = self.orm and self.votes % 2 == 1
            self.votes += 1
            path = self.answer_path.format(study=self.study)
            try:
                status, page, rtt, server = self._request("POST", path, body, plain)
            except (OSError, http.client.HTTPException):
                self.errors += 1
                self.unsure.append(shown)
                time.sleep(0.05)
                continue
            if status == 200 and self.recorded in page:
                self.acked.append(shown)
                self.samples["orm" if plain else "vote"].append((time.time(), rtt, server))
                html = page
            elif status == 200 and "Already recorded" in page:
                self.already += 1
                html = page
            else:
                self.errors += 1
                time.sleep(0.05)
                continue
            self._pause()

    def _ping(self) -> bool:
        """One trivial view (the baseline); False when the request itself failed."""
        try:
            status, _, rtt, server = self._request("GET", "/bench/ping/")
        except (OSError, http.client.HTTPException):
            self.errors += 1
            time.sleep(0.05)
            return False
        if status == 200:
            self.samples["ping"].append((time.time(), rtt, server))
        else:
            self.errors += 1
        return True

    def _pause(self) -> None:
        """Look at the new card for a while (`think`)."""
        if self.think:
            pause = self.think * self.random.uniform(0.5, 1.5)
            time.sleep(max(min(pause, self.stop_at - time.time()), 0))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else math.nan


def _windowed(samples: list[Sample], start: float, end: float) -> list[list[Sample]]:
    width = (end - start) / WINDOWS
    parts: list[list[Sample]] = [[] for _ in range(WINDOWS)]
    for sample in samples:
        parts[min(max(int((sample[0] - start) / width), 0), WINDOWS - 1)].append(sample)
    return parts


def _figure(name: str, value: float, base: float, unit: str) -> str:
    ratio = value / base if base else math.nan
    return f"{name}: {value:.2f} {unit}  baseline {base:.2f} {unit}  ratio {ratio:.2f}"


def _count(study: int, acked: list[int]) -> dict[str, int]:
    """What the database holds against what the server acknowledged."""
    from django.db.models import Count

    from ratings.models import Judgment

    rows = Judgment.objects.filter(comparison__study_id=study)
    stored = rows.count()
    distinct = rows.values("rater", "comparison", "criterion", "is_repeat").distinct().count()
    per_presentation = dict(
        rows.filter(presentation_id__in=acked)
        .values("presentation_id")
        .annotate(n=Count("pk"))
        .values_list("presentation_id", "n")
    )
    return tally(stored, distinct, acked, per_presentation, len(CRITERIA))


def tally(
    stored: int, distinct: int, acked: list[int], per_card: dict[int, int], per_answer: int
) -> dict[str, int]:
    """The counts the run prints: rows acknowledged (`per_answer` rows per acknowledged card),
    stored, lost (acknowledged, not stored), duplicated, stored without an acknowledgement."""
    expected = len(acked) * per_answer
    missing = sum(max(per_answer - per_card.get(p, 0), 0) for p in acked)
    return {
        "acked": expected,
        "stored": stored,
        "distinct": distinct,
        "lost": missing,
        "duplicated": stored - distinct,
        "unacknowledged": stored - (expected - missing),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter run (under a minute)")
    parser.add_argument("--raters", type=int, default=50, help=f"1 to {MAX_RATERS}")
    parser.add_argument("--seconds", type=float, default=None, help="length of the load phase")
    # docs/deploy.md's gunicorn: 2 x cores + 1 processes of one thread each. Threads of one
    # process take turns on the GIL, so a vote stretches whatever shares its process.
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--orm",
        action="store_true",
        help="every other vote runs its reads through plain querysets; prints both and the ratio",
    )
    parser.add_argument(
        "--think", type=float, default=2.0, help="mean seconds a rater looks at a pair"
    )
    parser.add_argument(
        "--checklist",
        action="store_true",
        help="key-term checklist studies instead: answer every item of an image → next image "
        "(bench/checklist_load.py)",
    )
    args = parser.parse_args()
    if args.checklist and args.orm:
        parser.error("--orm measures the pairwise reads: leave it out with --checklist")
    seconds = args.seconds or (9.0 if args.quick else 25.0)
    if not 1 <= args.raters <= MAX_RATERS:
        parser.error(f"--raters must be between 1 and {MAX_RATERS}")
    if not 1 <= seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be between 1 and {MAX_SECONDS:g}")
    burst = max(seconds / 3, 4.0) / (2 * ROUNDS)  # each throughput sub-phase
    # Enough pairs that nobody runs out (56 per prompt: 8 configs, 2 seeds), assuming the
    # server manages at most 200 votes/s flat out.
    expected_votes = seconds / max(args.think, 0.05) + ROUNDS * burst * 200 / args.raters
    per_prompt = 56
    seed, rater_class, count, what = _seed, Rater, _count, "vote"
    if args.checklist:
        from checklist_load import (
            IMAGES_PER_PROMPT,
            ChecklistRater,
            count_checklist,
            seed_checklist,
        )

        per_prompt = IMAGES_PER_PROMPT
        seed, rater_class, count, what = seed_checklist, ChecklistRater, count_checklist, "answer"
    n_prompts = min(max(3 if args.quick else 6, math.ceil(1.5 * expected_votes / per_prompt)), 40)

    db = f"loupe_bench_{os.getpid()}"
    server: subprocess.Popen[bytes] | None = None
    sys.path.insert(0, str(ROOT))
    # The per-rater vote limit stays on (its cost is part of a vote) but out of reach.
    with throwaway_django(
        db,
        SECURE_HSTS_SECONDS="0",
        ALLOWED_HOSTS=f"{HOST},localhost",
        LOUPE_VOTE_RATE_PER_MINUTE="1000000",
    ):
        try:
            study, sessions = seed(args.raters, n_prompts)
            port = _free_port()
            # gunicorn's workers see this process's settings (throwaway_django set them) and serve.
            env = {**os.environ, "LOUPE_BENCH_SERVE": "1"}
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "rate_load:application", "--pythonpath",
                 f"{ROOT / 'bench'},{ROOT}", "--bind", f"{HOST}:{port}", "--workers",
                 str(args.workers), "--worker-class", "gthread", "--threads", str(args.threads),
                 "--log-level", "warning", "--keep-alive", "30"],
                cwd=ROOT, env=env, start_new_session=True,
            )  # fmt: skip
            for _ in range(200):
                try:
                    socket.create_connection((HOST, port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            # Warm up: import every module in each worker before measuring.
            warm = rater_class(port, study, sessions[0], time.time() + 1.5, "mixed", 0.0)
            warm.run()

            def phase(
                mode: str, length: float, think: float = 0.0, orm: bool = False
            ) -> tuple[list[Rater], float]:
                stop_at = time.time() + length
                group = [rater_class(port, study, s, stop_at, mode, think, orm) for s in sessions]
                for rater in group:
                    rater.start()
                for rater in group:
                    rater.join(max(stop_at - time.time(), 0) + 2 * REQUEST_TIMEOUT)
                return group, length

            started = time.time()
            load, _ = phase("mixed", seconds, args.think, args.orm)
            ended = time.time()
            rates: dict[str, list[float]] = {"ping": [], "vote": []}
            bursts: list[Rater] = []
            for _ in range(ROUNDS):
                for mode in ("ping", "vote"):
                    group, length = phase(mode, burst)
                    bursts += group
                    rates[mode].append(sum(len(r.samples[mode]) for r in group) / length)
            everyone = [warm, *load, *bursts]
            counts = count(study, [p for r in everyone for p in r.acked])
            errors = sum(r.errors for r in everyone)
            unsure = sum(len(r.unsure) for r in everyone)
            already = sum(r.already for r in everyone)
            finished = sum(r.finished for r in load + bursts)
        finally:
            if server is not None:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=30)

    votes = [s for r in load for s in r.samples["vote"]]
    pings = [s for r in load for s in r.samples["ping"]]
    if not votes or not pings:
        sys.exit(f"no samples: {len(votes)} votes, {len(pings)} views, {errors} errors")
    print(f"# {args.raters} raters for {ended - started:.1f} s (think {args.think:g} s), then "
          f"{ROUNDS}x({burst:.1f} s views + {burst:.1f} s votes) flat out; gunicorn "
          f"{args.workers}x{args.threads} gthread on PostgreSQL, {n_prompts * per_prompt} "
          f"{'images' if args.checklist else 'pairs'}; "
          f"server = Server-Timing inside WSGI, median of {WINDOWS} windows")  # fmt: skip
    vote_parts = _windowed(votes, started, ended)
    ping_parts = _windowed(pings, started, ended)
    for label, index in (("server", 2), ("round trip", 1)):
        for name, q in (("p50", 0.5), ("p95", 0.95)):
            cand = statistics.median(_pct([s[index] for s in part], q) for part in vote_parts)
            base = statistics.median(_pct([s[index] for s in part], q) for part in ping_parts)
            print(_figure(f"{what}+next {label} {name}", cand, base, "ms"))
    orm_votes = [s for r in load for s in r.samples["orm"]]
    if orm_votes:
        # The same views with plain querysets (ratings.statements.plain_orm), the same run.
        orm_parts = _windowed(orm_votes, started, ended)
        for name, q in (("p50", 0.5), ("p95", 0.95)):
            plain = statistics.median(_pct([s[2] for s in part], q) for part in orm_parts)
            fast = statistics.median(_pct([s[2] for s in part], q) for part in vote_parts)
            print(_figure(f"plain-ORM vote+next server {name}", plain, fast, "ms"))
        cpu_orm = [ms for r in load for ms in r.cpu.get("orm", [])]
        print(f"# server CPU, median under load: plain-ORM vote+next "
              f"{statistics.median(cpu_orm):.2f} ms (baseline: the vote+next above)")  # fmt: skip
    load_time = ended - started
    print(f"{what}s/s under load: {len(votes) / load_time:.2f} 1/s")
    print(_figure(f"{what}s/s flat out", statistics.median(rates["vote"]),
                  statistics.median(rates["ping"]), "1/s"))  # fmt: skip
    print(f"errors: {errors} requests")
    rows = "answers" if args.checklist else "judgments"
    print(f"{rows} acknowledged: {counts['acked']} {rows}")
    print(f"{rows} stored: {counts['stored']} {rows}")
    print(f"{rows} lost: {counts['lost']} {rows}")
    print(f"{rows} duplicated: {counts['duplicated']} {rows}")
    print(f"# {len(votes)} votes under load, {already} answered 'already recorded', {unsure} "
          f"unanswered (may be stored: {counts['unacknowledged']} unacknowledged judgments "
          f"stored), {finished} raters ran out of pairs")  # fmt: skip
    cpu_vote = [ms for r in load for ms in r.cpu.get("vote", [])]
    cpu_ping = [ms for r in load for ms in r.cpu.get("ping", [])]
    print(f"# server CPU in Python (thread time), median under load: {what}+next "
          f"{statistics.median(cpu_vote):.2f} ms, trivial view {statistics.median(cpu_ping):.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
