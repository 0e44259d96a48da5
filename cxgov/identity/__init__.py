"""Identity: every actor and person proves who it is with a credential; a name typed on a command line is not
an identity. Keys (`keys`) are the embedded default; people may sign in with an OIDC token instead (`oidc`)."""

from cxgov.identity.keys import Credential, IssuedKey, KeyStore, Principal

__all__ = ["Credential", "IssuedKey", "KeyStore", "Principal"]
