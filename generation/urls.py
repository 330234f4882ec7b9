from rest_framework.routers import DefaultRouter

from generation import apis

router = DefaultRouter()
router.register("prompts", apis.PromptViewSet)
router.register("adapters", apis.LoraAdapterViewSet)
router.register("configs", apis.GenerationConfigViewSet)
router.register("images", apis.ImageViewSet)

urlpatterns = router.urls
