from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts import services


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = services.find_invitation(token)
    return render(request, "accounts/invitation_accept.html", {"invitation": invitation, "token": token})
