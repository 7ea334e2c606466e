from rest_framework import authentication
from rest_framework.request import Request


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication, answering 401 (not 403) when no one is signed in.

    DRF turns "not authenticated" into 403 unless the first authenticator names a challenge; a missing
    login and a missing permission are different problems for a client, so we name one.
    """

    def authenticate_header(self, request: Request) -> str:
        return 'Session realm="api"'
