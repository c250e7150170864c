from rest_framework.routers import SimpleRouter

from developers import api

router = SimpleRouter(trailing_slash=True)
router.register("webhook-endpoints", api.WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("webhook-deliveries", api.WebhookDeliveryViewSet, basename="webhook-delivery")

urlpatterns = router.urls
