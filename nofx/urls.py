from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from oauth2_provider import views as oauth2_views

from apps.accounts import views as account_views
from apps.core import views as core_views

admin.site.site_header = "NOFX Control Plane operations"
admin.site.site_title = "NOFX operations"
admin.site.index_title = "Operations"

oauth2_patterns = [
    path("authorize/", oauth2_views.AuthorizationView.as_view(), name="authorize"),
    path("token/", oauth2_views.TokenView.as_view(), name="token"),
    path("revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", oauth2_views.IntrospectTokenView.as_view(), name="introspect"),
    # OpenID Connect on top (when a signing key is configured): discovery, keys and user info.
    re_path(
        r"^\.well-known/openid-configuration/?$",
        oauth2_views.ConnectDiscoveryInfoView.as_view(),
        name="oidc-connect-discovery-info",
    ),
    path(".well-known/jwks.json", oauth2_views.JwksInfoView.as_view(), name="jwks-info"),
    path("userinfo/", oauth2_views.UserInfoView.as_view(), name="user-info"),
]

urlpatterns = [
    # First: the API is the busiest path, and every pattern tried before it costs each call a failed match.
    path("api/v1/", include("nofx.api_router")),
    path("", include("apps.core.urls")),
    path("", include("apps.connectors.urls")),
    # Email first: the address decides between the organization's IdP and a password (allauth's form).
    path("accounts/login/", account_views.sign_in, name="account_login"),
    path("accounts/", include("allauth.urls")),
    path("account/api/", include("apps.gateway.urls")),
    path("sso/", include("apps.accounts.sso.urls")),
    # The OAuth2 provider: authorize, token, revoke and introspect (apps are registered in the account pages).
    path("o/", include((oauth2_patterns, "oauth2_provider"))),
    path("scim/v2/", include("apps.accounts.scim.urls")),
    path("account/", include("apps.accounts.urls")),
    path("", include("apps.regions.urls")),
    path("compliance/", include("apps.compliance.urls")),
    # Billing's payouts page belongs to the developer portal's space; it comes before any "developers/" include.
    path("developers/payouts/", include("apps.billing.urls")),
    path("billing/", include("apps.billing.customer_urls")),
    path("security/", include("apps.security.urls")),
    path("marketplace/", include("apps.marketplace.urls")),
    path("developers/", include("apps.developers.urls")),
    path("admin/", admin.site.urls),
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
