"""OAuth and JOSE protocol identifiers, spelled once.

Grant types and token types are the URNs of RFC 8693 section 3 and RFC 7523 section 2;
``AT_JWT`` is the RFC 9068 section 2.1 ``typ`` of JWT access tokens.
"""

from __future__ import annotations

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "AT_JWT",
    "AT_JWT_MEDIA_TYPE",
    "AUTHORIZATION_CODE_GRANT",
    "CLIENT_ASSERTION_TYPE",
    "CLIENT_CREDENTIALS_GRANT",
    "ID_TOKEN_TYPE",
    "JWT_BEARER_GRANT",
    "JWT_TOKEN_TYPE",
    "REFRESH_TOKEN_GRANT",
    "REFRESH_TOKEN_TYPE",
    "TOKEN_EXCHANGE_GRANT",
]

# Grant types (RFC 6749 section 4, RFC 8693 section 2.1, RFC 7523 section 2.1).
AUTHORIZATION_CODE_GRANT = "authorization_code"
REFRESH_TOKEN_GRANT = "refresh_token"
CLIENT_CREDENTIALS_GRANT = "client_credentials"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# Token type identifiers (RFC 8693 section 3).
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"

# RFC 7523 section 2.2 client assertions.
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# RFC 9068 section 2.1: the JOSE typ of a JWT access token, short and as a media type.
AT_JWT = "at+jwt"
AT_JWT_MEDIA_TYPE = "application/at+jwt"
