from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from evalsite import health, views

handler500 = "evalsite.health.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="registration/login.html"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # Every REST API route (evalsite/api_urls.py), then each app's pages.
    path("api/", include("evalsite.api_urls")),
    path("", include("generation.urls")),
    # Media too (ratings/media.py): served to whoever may see them, with DEBUG on or off.
    path("", include("ratings.urls")),
    path("", include("accounts.urls")),
]
