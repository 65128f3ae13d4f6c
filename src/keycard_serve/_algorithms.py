"""The one table of JWS algorithms keycard-serve verifies or signs with.

Only asymmetric algorithms appear (RFC 7518 section 3, RFC 8037 section 3.1): ``none`` and
the HMAC family never verify a token here, since a shared secret would let anyone holding it
mint tokens. Each entry says which key may serve it: the JWK ``kty``, the allowed ``crv``
values and, for RSA, the minimum modulus size (RFC 7518 section 3.3: 2048 bits).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

__all__ = [
    "ALGORITHMS",
    "SIGNING_ALGORITHMS",
    "VERIFYING_ALGORITHMS",
    "Algorithm",
    "check_private_key",
]


@dataclass(frozen=True)
class Algorithm:
    """One JWS ``alg`` and the keys that may serve it."""

    name: str
    key_type: str  # JWK "kty": "RSA", "EC" or "OKP"
    curves: tuple[str, ...] = ()  # JWK "crv" values allowed; empty for RSA
    min_key_bits: int = 0  # minimum RSA modulus size in bits; 0 where the curve fixes it


def _rsa(name: str) -> Algorithm:
    return Algorithm(name, "RSA", min_key_bits=2048)


ALGORITHMS: Mapping[str, Algorithm] = MappingProxyType(
    {
        algorithm.name: algorithm
        for algorithm in (
            *(_rsa(f"{family}{bits}") for family in ("RS", "PS") for bits in (256, 384, 512)),
            Algorithm("ES256", "EC", ("P-256",)),
            Algorithm("ES384", "EC", ("P-384",)),
            Algorithm("ES512", "EC", ("P-521",)),
            Algorithm("EdDSA", "OKP", ("Ed25519", "Ed448")),
        )
    }
)

# Inbound access tokens may use any of them.
VERIFYING_ALGORITHMS: tuple[str, ...] = tuple(ALGORITHMS)
# Client assertions (RFC 7523) we sign: EdDSA is rarely accepted by token endpoints.
SIGNING_ALGORITHMS: tuple[str, ...] = tuple(name for name in ALGORITHMS if name != "EdDSA")

# cryptography's curve names for the JWK ones (RFC 7518 section 6.2.1.1, RFC 8037 section 2).
_EC_CURVES = {"P-256": ec.SECP256R1.name, "P-384": ec.SECP384R1.name, "P-521": ec.SECP521R1.name}


def check_private_key(key: object, algorithm: str) -> None:
    """Raise ``ValueError`` (a sentence naming the problem) unless ``key`` can sign ``algorithm``.

    ``key`` is a ``cryptography`` private key object. The rule is the table above: the key
    type, the curve, and at least 2048 bits for RSA.
    """
    entry = ALGORITHMS.get(algorithm)
    if entry is None:
        raise ValueError(f"unsupported algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}")
    if entry.key_type == "RSA":
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"algorithm {algorithm} needs an RSA key")
        if key.key_size < entry.min_key_bits:
            raise ValueError(
                f"the RSA key has {key.key_size} bits; use at least {entry.min_key_bits}"
            )
    elif entry.key_type == "EC":
        (curve,) = entry.curves
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != _EC_CURVES[curve]:
            raise ValueError(f"algorithm {algorithm} needs an EC key on curve {curve}")
    elif not isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        raise ValueError(f"algorithm {algorithm} needs an Ed25519 or Ed448 key")
