"""The REST API router, mounted at /api/ (route names are prefixed api- to stay clear of pages)."""

from rest_framework.routers import DefaultRouter

from generation import apis

router = DefaultRouter()
router.register("prompts", apis.PromptViewSet, basename="api-prompt")
router.register("adapters", apis.LoraAdapterViewSet, basename="api-adapter")
router.register("configs", apis.GenerationConfigViewSet, basename="api-config")
router.register("images", apis.ImageViewSet, basename="api-image")

urlpatterns = router.urls
