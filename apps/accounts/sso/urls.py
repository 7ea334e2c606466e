from django.urls import path

from apps.accounts.sso import saml

app_name = "sso"
urlpatterns = [
    path("saml/<slug:slug>/login/", saml.SamlLoginView.as_view(), name="saml_login"),
    path("saml/<slug:slug>/acs/", saml.SamlAcsView.as_view(), name="saml_acs"),
    path("saml/<slug:slug>/metadata/", saml.SamlMetadataView.as_view(), name="saml_metadata"),
]
