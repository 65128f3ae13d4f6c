"""The RFC 8414 / OpenID discovery document; the zone serves it, identical, at both paths."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._clients import AUTH_METHODS, GRANT_TYPES
from ._keys import ALGORITHM
from ._log import BANNER

__all__ = ["discovery_document"]


def discovery_document(issuer: str, *, scopes: Sequence[str]) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "registration_endpoint": f"{issuer}/register",
        "jwks_uri": f"{issuer}/jwks",
        "scopes_supported": list(scopes),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        # MCP clients refuse an authorization server that does not list S256 (TS SDK).
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": False,
        # Required members of OpenID discovery, so strict OIDC parsers accept the same document;
        # the zone issues access tokens only, never ID tokens.
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "keycard_serve_development_zone": BANNER,
    }
