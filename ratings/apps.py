from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RatingsConfig(AppConfig):
    name = "ratings"
    verbose_name = "Ratings"

    def ready(self) -> None:
        from evalsite.groups import groups_ensure

        post_migrate.connect(groups_ensure, sender=self)
