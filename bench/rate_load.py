"""Load on the rating path: 50 simulated raters voting over loopback against gunicorn + PostgreSQL.

    .venv/bin/python bench/rate_load.py [--quick] [--raters 50] [--seconds 20]

Creates a throwaway database on 127.0.0.1:5432 (user postgres), seeds an open study whose
images are "done", starts gunicorn on a free loopback port, and lets every simulated rater
alternate a trivial Django view (the baseline: same middleware, session and user lookup) with
a vote that returns the next pair (the candidate), both through htmx as the browser does.
Server time is measured inside the WSGI app (no queueing); round trip is what the client saw.
The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import http.client
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

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432/"
SERVER_HEADER = "X-Bench-Server-Ms"


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

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()

        def timed(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            ms = (time.perf_counter() - started) * 1000
            return start_response(status, [*headers, (SERVER_HEADER, f"{ms:.3f}")], *rest)

        return django_app(environ, timed)

    return application


if __name__ != "__main__" and os.environ.get("LOUPE_BENCH_SERVE") == "1":
    application = _wsgi()


# --- the driver -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(PG + "postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(sql)
    conn.close()


def _seed(n_raters: int, quick: bool) -> tuple[int, list[str]]:
    """Migrate and create an open study with rendered images; returns (study id, session keys)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.test import Client

    from evalsite.groups import groups_ensure
    from evalsite.roles import RATERS
    from generation.models import Image
    from generation.services.configs import config_create, prompt_create
    from ratings.models import Study
    from ratings.services.studies import comparison_create, study_create

    call_command("migrate", verbosity=0)
    groups_ensure()
    samplers = ["euler_a", "ddim", "dpmpp_2m", "euler", "heun", "lms", "pndm", "unipc"]
    configs = [
        config_create(name=f"c{i}", sampler=samplers[i], steps=20, cfg=7.0, width=512, height=512)[
            0
        ]
        for i in range(8)
    ]
    prompts = [
        prompt_create(text=f"huggie hoops number {i}, white background", category="huggie hoops",
                      key_terms=["huggie hoops"])
        for i in range(3 if quick else 6)
    ]  # fmt: skip
    study = study_create(name="bench", prompts=prompts, configs=configs, seeds_per_prompt=2)
    for prompt in prompts:
        for seed in study.seeds():
            images = [
                Image.objects.create(
                    config=c, prompt=prompt, seed=seed, status=Image.Status.DONE,
                    display_file=f"img/{secrets.token_hex(16)}.webp",
                )
                for c in configs
            ]  # fmt: skip
            for i, first in enumerate(images):
                for second in images[i + 1 :]:
                    comparison_create(study=study, first=first, second=second)
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
    return study.pk, sessions


class Rater(threading.Thread):
    def __init__(
        self,
        port: int,
        study: int,
        session: str,
        stop_at: float,
        mode: str = "mixed",
        think: float = 0.0,
    ) -> None:
        super().__init__(daemon=True)
        self.port, self.study, self.stop_at, self.mode = port, study, stop_at, mode
        self.think = think
        self.random = random.Random(session)
        token = secrets.token_hex(16)
        self.headers = {
            "Cookie": f"sessionid={session}; csrftoken={token}",
            "X-CSRFToken": token,
            "HX-Request": "true",
            "Host": "127.0.0.1",
        }
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.samples: dict[str, list[tuple[float, float]]] = {"vote": [], "ping": []}
        self.errors = 0
        self.done = False

    def _request(
        self, method: str, path: str, body: str | None = None
    ) -> tuple[int, str, float, float]:
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            text = response.read().decode()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            raise
        rtt = (time.perf_counter() - started) * 1000
        server = float(response.getheader(SERVER_HEADER) or "nan")
        return response.status, text, rtt, server

    def run(self) -> None:
        base = f"/rate/{self.study}/"
        status, html, _, _ = self._request("GET", base + "?go=1")
        while time.time() < self.stop_at:
            try:
                if self.mode != "vote":
                    status, _, rtt, server = self._request("GET", "/bench/ping/")
                    if status == 200:
                        self.samples["ping"].append((rtt, server))
                    else:
                        self.errors += 1
                if self.mode == "ping":
                    continue
                match = re.search(r'data-presentation="(\d+)"', html)
                if match is None:
                    self.done = True
                    return
                body = urlencode({"presentation": match.group(1), "c-prompt_adherence": "left",
                                  "c-modern_aesthetic": "tie", "response_ms": "1500"})  # fmt: skip
                status, html, rtt, server = self._request("POST", base + "vote/", body)
                if status != 200 or "Vote recorded." not in html:
                    self.errors += 1
                    continue
                self.samples["vote"].append((rtt, server))
                if self.think:
                    time.sleep(self.think * self.random.uniform(0.5, 1.5))
            except (OSError, http.client.HTTPException):
                self.errors += 1


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter run (under a minute)")
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--think",
        type=float,
        default=2.0,
        help="mean seconds a rater looks at a pair (latency phase)",
    )
    args = parser.parse_args()
    seconds = args.seconds or (8.0 if args.quick else 25.0)

    db = f"loupe_bench_{os.getpid()}"
    env = {
        **os.environ,
        "DATABASE_URL": PG + db,
        "DJANGO_SETTINGS_MODULE": "evalsite.settings",
        "SECRET_KEY": secrets.token_hex(32),
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "LOUPE_BENCH_SERVE": "1",
    }
    _admin(f'CREATE DATABASE "{db}"')
    server: subprocess.Popen[bytes] | None = None
    try:
        os.environ.update({k: v for k, v in env.items() if k != "LOUPE_BENCH_SERVE"})
        sys.path.insert(0, str(ROOT))
        study, sessions = _seed(args.raters, args.quick)
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "rate_load:application", "--pythonpath",
             f"{ROOT / 'bench'},{ROOT}", "--bind", f"127.0.0.1:{port}", "--workers",
             str(args.workers), "--worker-class", "gthread", "--threads", str(args.threads),
             "--log-level", "warning", "--keep-alive", "30"],
            cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        # Warm up: import every module in each worker before measuring.
        warm = Rater(port, study, sessions[0], time.time() + 1.5)
        warm.run()

        def phase(mode: str, length: float, think: float = 0.0) -> tuple[list[Rater], float]:
            stop_at = time.time() + length
            group = [Rater(port, study, s, stop_at, mode, think) for s in sessions]
            started = time.time()
            for rater in group:
                rater.start()
            for rater in group:
                rater.join(length + 60)
            return group, time.time() - started

        # Latency: each rater alternates the trivial view and a vote (then looks at the next
        # pair for a while), so both kinds of request see the same load.
        raters, elapsed = phase("mixed", seconds, args.think)
        votes = [s for r in raters for s in r.samples["vote"]]
        pings = [s for r in raters for s in r.samples["ping"]]
        errors = sum(r.errors for r in raters)
        # Throughput: all raters on one kind of request at a time.
        only_pings, ping_time = phase("ping", seconds / 3)
        only_votes, vote_time = phase("vote", seconds / 3)
        ping_rate = sum(len(r.samples["ping"]) for r in only_pings) / ping_time
        vote_count = sum(len(r.samples["vote"]) for r in only_votes)
        vote_rate = vote_count / vote_time
        errors += sum(r.errors for r in only_pings + only_votes)
        from django.db.models import Count

        from ratings.models import Judgment

        dupes = (
            Judgment.objects.values("rater", "comparison", "criterion", "is_repeat")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
            .count()
        )
        judgments = Judgment.objects.count()
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    if not votes or not pings:
        sys.exit(f"no samples: {len(votes)} votes, {len(pings)} pings, {errors} errors")
    print(f"# {args.raters} raters (think {args.think:g} s), {elapsed:.1f} s, gunicorn {args.workers}x{args.threads} gthread, "
          f"{len(votes) + vote_count} votes ({2 * (len(votes) + vote_count + len(warm.samples['vote']))} judgments expected, "
          f"{judgments} stored, "
          f"{dupes} duplicates), {errors} errors")  # fmt: skip
    for label, index in (("server", 1), ("round trip", 0)):
        v = [s[index] for s in votes]
        p = [s[index] for s in pings]
        for name, q in (("p50", 0.5), ("p95", 0.95)):
            cand, base = _pct(v, q), _pct(p, q)
            key = f"vote+next {label} {name}"
            print(f"{key}: {cand:.2f} ms  baseline {base:.2f} ms  ratio {cand / base:.2f}")
    print(f"votes/s: {vote_rate:.1f} 1/s  baseline {ping_rate:.1f} 1/s  "
          f"ratio {vote_rate / ping_rate:.2f}")  # fmt: skip
    print(f"# median server ms: vote {statistics.median(s[1] for s in votes):.2f}, "
          f"ping {statistics.median(s[1] for s in pings):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
