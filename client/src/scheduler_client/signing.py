"""SigV4 for ``execute-api`` with botocore: the credential chain, the region, and when to sign at all."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError
from botocore.session import Session

from scheduler_client.errors import Forbidden

SERVICE = "execute-api"
# https://{api-id}.execute-api.{region}.amazonaws.com[.cn]/{stage}/...
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


def region_from_url(url: str) -> str | None:
    """The region of an ``execute-api`` URL; None for any other host (a custom domain, the local stack)."""
    match = _EXECUTE_API_HOST.match((urlsplit(url).hostname or "").lower())
    return match.group(1) if match else None


def is_loopback(url: str) -> bool:
    """True for localhost and loopback addresses: the local stack, which does not check signatures."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RequestSigner:
    """Signs each request with the credentials botocore's chain holds *now*: refreshable credentials
    (SSO, assumed roles, container and instance roles) are frozen per request, so a refresh is used as
    soon as botocore makes it, and the three parts of one signature always belong together."""

    def __init__(self, session: Session, region: str, service: str = SERVICE) -> None:
        self.session = session
        self.region = region
        self.service = service

    def sign(self, request: AWSRequest) -> None:
        try:
            credentials = self.session.get_credentials()
            frozen = credentials.get_frozen_credentials() if credentials is not None else None
        except BotoCoreError as error:  # an unknown profile, an expired SSO session, a role that cannot be assumed
            raise Forbidden(f"AWS credentials: {error}", status=None) from error
        if frozen is None:
            raise Forbidden(
                "No AWS credentials found (environment, profile, SSO, container or instance role). "
                "Set AWS_PROFILE or run `aws sso login`.",
                status=None,
            )
        SigV4Auth(frozen, self.service, self.region).add_auth(request)


class RegionUnknown(ValueError):
    """The region to sign for is in neither the URL, the arguments nor the profile."""

    def __init__(self, url: str) -> None:
        super().__init__(f"Cannot tell the AWS region of {url}: it is not an execute-api URL. Pass region=.")
        self.url = url


def resolve_region(url: str, given: str | None, session: Session) -> str:
    """The region to sign for: the one given, else the URL's, else the profile's or environment's."""
    try:
        region = given or region_from_url(url) or session.get_config_variable("region")
    except BotoCoreError as error:  # e.g. a profile that does not exist
        raise Forbidden(f"AWS configuration: {error}", status=None) from error
    if not region:
        raise RegionUnknown(url)
    return str(region)
