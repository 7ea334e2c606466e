"""Models that exist only in the test suite, to exercise kernel pieces no product model uses yet."""

from django.db import models

from apps.core.fields import EncryptedJSONField, EncryptedTextField
from apps.core.models import OrganizationOwnedModel


class SecretHolder(OrganizationOwnedModel):
    name = models.CharField(max_length=50)
    token = EncryptedTextField(blank=True)
    credentials = EncryptedJSONField(null=True, blank=True)

    class Meta:
        app_label = "testapp"
