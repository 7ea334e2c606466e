import os

from django.core.wsgi import get_wsgi_application
from django.urls import reverse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nofx.settings.production")

application = get_wsgi_application()

# Load the URLconf, and everything its views import, while the worker boots rather than in the first request
# it serves. Building SAML's XML schemas alone takes most of a second, and gunicorn recycles workers every few
# thousand requests (max_requests): without this, each new worker would keep its first caller waiting.
reverse("core:healthz")
