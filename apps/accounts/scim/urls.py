from django.urls import path

from apps.accounts.scim import views

app_name = "scim"
urlpatterns = [
    path("Users", views.ScimUsersView.as_view(), name="users"),
    path("Users/<str:member_id>", views.ScimUserView.as_view(), name="user"),
    path("Groups", views.ScimGroupsView.as_view(), name="groups"),
    path("Groups/<str:group_id>", views.ScimGroupView.as_view(), name="group"),
    path("ServiceProviderConfig", views.ServiceProviderConfigView.as_view(), name="service_provider_config"),
]
