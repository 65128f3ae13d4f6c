"""The public API is what ``__all__`` says, sorted, and nothing else is needed by users."""

import keycard_serve


def test_all_is_sorted_and_complete():
    public = {name for name in dir(keycard_serve) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(keycard_serve, name)).__name__ == "module"}
    assert sorted(keycard_serve.__all__) == keycard_serve.__all__
    assert set(keycard_serve.__all__) - {"__version__"} == public - modules


def test_the_seed_imports_work():
    from keycard_serve import AccessContext, AuthProvider, ClientSecret, PrivateKeyJWT  # noqa: F401
    from keycard_serve.testing import mock_access_context  # noqa: F401
