from django.urls import path

from apps.marketplace import views

app_name = "marketplace"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("extensions/<str:slug>/", views.extension_detail, name="extension"),
    path("extensions/<str:slug>/screenshots/<int:number>/", views.screenshot, name="screenshot"),
    path("extensions/<str:slug>/install/", views.install, name="install"),
    path("extensions/<str:slug>/install/check/", views.install_check, name="install_check"),
    path("extensions/<str:slug>/review/", views.review, name="review"),
    path("extensions/<str:slug>/report-problem/", views.report_problem, name="report_problem"),
    path("reviews/<uuid:pk>/report/", views.report_review, name="report_review"),
    path("installed/", views.installed, name="installed"),
    path("installed/<uuid:pk>/", views.installation_detail, name="installation"),
    path("installed/<uuid:pk>/result/", views.install_result, name="install_result"),
    path("installed/<uuid:pk>/configure/", views.installation_configure, name="configure"),
    path("installed/<uuid:pk>/disable/", views.installation_disable, name="disable"),
    path("installed/<uuid:pk>/enable/", views.installation_enable, name="enable"),
    path("installed/<uuid:pk>/uninstall/", views.installation_uninstall, name="uninstall"),
    path("installed/<uuid:pk>/approve-update/", views.installation_approve_update, name="approve_update"),
]
