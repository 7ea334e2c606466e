from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from apps.core import views as core_views

admin.site.site_header = "NOFX Control Plane operations"
admin.site.site_title = "NOFX operations"
admin.site.index_title = "Operations"

urlpatterns = [
    path("", include("apps.core.urls")),
    path("accounts/", include("allauth.urls")),
    path("account/", include("apps.accounts.urls")),
    path("compliance/", include("apps.compliance.urls")),
    path("security/", include("apps.security.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("nofx.api_router")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("metrics", core_views.metrics, name="metrics"),
]

handler404 = "apps.core.views.page_not_found"
handler500 = "apps.core.views.server_error"

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
