from django.urls import path

from apps.compliance import views

app_name = "compliance"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("assessments/<uuid:pk>/", views.assessment_detail, name="assessment"),
    path("assessments/<uuid:pk>/evidence/", views.upload_evidence, name="upload_evidence"),
    path("assessments/<uuid:pk>/report/", views.assessment_report, name="report"),
    path("assessments/<uuid:pk>/report.csv", views.assessment_report_csv, name="report_csv"),
    path("assessments/<uuid:pk>/evidence.zip", views.evidence_bundle, name="evidence_bundle"),
    path("evidence/<uuid:pk>/download/", views.evidence_download, name="evidence_download"),
]
