from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from apps.accounts.models import Invitation


@shared_task(name="apps.accounts.tasks.send_invitation_email_task", autoretry_for=(OSError,), retry_backoff=True)
def send_invitation_email_task(invitation_id: str, token: str) -> None:
    """Email the invitation link. Safe to repeat: at worst the invitee gets the same link twice."""
    invitation = Invitation.objects.select_related("organization", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.status != "pending":
        return
    context = {
        "invitation": invitation,
        "accept_url": settings.SITE_URL + reverse("accounts:invitation_accept", args=[token]),
        "SITE_NAME": settings.SITE_NAME,
    }
    send_mail(
        subject=f"You are invited to {invitation.organization.name} on {settings.SITE_NAME}",
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


@shared_task(name="apps.accounts.tasks.refresh_saml_metadata_task")
def refresh_saml_metadata_task() -> int:
    """Re-read every enabled IdP's metadata from its URL (daily). Safe to repeat. Returns how many changed."""
    from apps.accounts.models import SamlIdentityProvider
    from apps.accounts.services import refresh_saml_metadata

    changed = 0
    for idp in SamlIdentityProvider.objects.filter(is_enabled=True).exclude(metadata_url=""):
        changed += refresh_saml_metadata(idp=idp)
    return changed


@shared_task(name="apps.accounts.tasks.clear_expired_credentials_task")
def clear_expired_credentials_task() -> dict[str, int]:
    """Daily housekeeping of expired tokens and sessions. Safe to repeat."""
    from apps.accounts.services import clear_expired_credentials

    return clear_expired_credentials()
