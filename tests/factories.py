from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from evalsite.groups import groups_ensure
from evalsite.roles import RATERS, RESEARCHERS
from generation.models import GenerationConfig, Image, Prompt
from generation.services.configs import config_create
from ratings.models import Study
from ratings.services.studies import study_create


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
