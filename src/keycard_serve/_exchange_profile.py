"""How a zone wants delegation asked for: RFC 8693 token exchange, or Entra's on-behalf-of.

Most zones follow RFC 8693 and target the downstream API by ``resource`` (RFC 8707); others
name it by ``audience`` (Keycloak, Okta, Auth0), call for both, expect other token types, or
(Microsoft Entra ID) only know the RFC 7523 ``jwt-bearer`` grant with
``requested_token_use=on_behalf_of``. ``ExchangeProfile`` says which, once per zone; a
``Grant`` may override the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ._protocol import ACCESS_TOKEN_TYPE, JWT_BEARER_GRANT, JWT_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT

__all__ = ["ExchangeProfile", "Flavour", "Target", "token_type_uri"]

Flavour = Literal["token_exchange", "on_behalf_of"]
Target = Literal["resource", "audience", "both"]

_SHORT_TYPES = {"access_token": ACCESS_TOKEN_TYPE, "jwt": JWT_TOKEN_TYPE}


def token_type_uri(name: str) -> str:
    """``access_token`` and ``jwt`` as their RFC 8693 section 3 URNs; an absolute URI as is.

    Raises ``ValueError`` for anything else.
    """
    if name in _SHORT_TYPES:
        return _SHORT_TYPES[name]
    if ":" not in name or " " in name:
        raise ValueError(f"{name!r} is not access_token, jwt or an absolute URI")
    return name


@dataclass(frozen=True)
class ExchangeProfile:
    """The delegation request a zone expects, and the answers it may give.

    - ``flavour``: ``token_exchange`` (RFC 8693, the default) or ``on_behalf_of`` (Entra:
      ``grant_type`` ``urn:ietf:params:oauth:grant-type:jwt-bearer``, ``assertion`` = the
      caller's token, ``requested_token_use=on_behalf_of``, and ``scope`` =
      ``<audience or resource>/<scope>`` for each scope, ``<...>/.default`` without scopes).
    - ``target``: how a grant names its API in an RFC 8693 request, unless the grant says:
      ``resource`` (RFC 8707, the default), ``audience`` (the grant's ``audience``, else its
      resource) or ``both``.
    - ``subject_token_type``: RFC 8693 ``subject_token_type``: ``access_token`` (default),
      ``jwt``, or an absolute URI (Auth0 Custom Token Exchange wants its own).
    - ``requested_token_type``: sent as is (``access_token`` by default, or ``jwt``, or a
      URI); None leaves the parameter out.
    - ``issued_token_types``: the ``issued_token_type`` values a response may carry (RFC 8693
      section 2.2.1); None in the list accepts a response without one. An on-behalf-of
      response never has one, so that flavour accepts its absence.

    Short names are turned into URNs; ``ValueError`` for an unknown value.
    """

    flavour: Flavour = "token_exchange"
    target: Target = "resource"
    subject_token_type: str = ACCESS_TOKEN_TYPE
    requested_token_type: str | None = ACCESS_TOKEN_TYPE
    issued_token_types: Sequence[str | None] = (ACCESS_TOKEN_TYPE,)

    def __post_init__(self) -> None:
        if self.flavour not in ("token_exchange", "on_behalf_of"):
            raise ValueError("flavour must be token_exchange or on_behalf_of")
        if self.target not in ("resource", "audience", "both"):
            raise ValueError("target must be resource, audience or both")
        if isinstance(self.issued_token_types, str) or not self.issued_token_types:
            raise ValueError("issued_token_types must be a non-empty sequence")
        issued = tuple(None if t is None else token_type_uri(t) for t in self.issued_token_types)
        requested = self.requested_token_type
        object.__setattr__(self, "subject_token_type", token_type_uri(self.subject_token_type))
        object.__setattr__(self, "requested_token_type", requested and token_type_uri(requested))
        object.__setattr__(self, "issued_token_types", issued)

    @property
    def grant_type(self) -> str:
        """The ``grant_type`` of the request."""
        return JWT_BEARER_GRANT if self.flavour == "on_behalf_of" else TOKEN_EXCHANGE_GRANT

    def accepts_issued(self, issued: object) -> bool:
        """Whether a response's ``issued_token_type`` (None when absent) is acceptable."""
        if issued is None and self.flavour == "on_behalf_of":
            return True
        return issued in self.issued_token_types

    def form(
        self,
        subject_token: str,
        resource: str,
        scopes: Sequence[str],
        *,
        audience: str | None = None,
        target: Target | None = None,
    ) -> dict[str, str]:
        """The token-endpoint form (client authentication is added separately)."""
        named = audience or resource
        if self.flavour == "on_behalf_of":
            api = named.rstrip("/")
            wanted = [s if "://" in s else f"{api}/{s}" for s in scopes] or [f"{api}/.default"]
            return {
                "grant_type": JWT_BEARER_GRANT,
                "assertion": subject_token,
                "requested_token_use": "on_behalf_of",
                "scope": " ".join(wanted),
            }
        form = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": subject_token,
            "subject_token_type": self.subject_token_type,
        }
        if self.requested_token_type:
            form["requested_token_type"] = self.requested_token_type
        how = target or self.target
        if how in ("resource", "both"):
            form["resource"] = resource
        if how in ("audience", "both"):
            form["audience"] = named
        if scopes:
            form["scope"] = " ".join(scopes)
        return form
