"""Errors shared across layers. Messages never carry the API token or other secrets."""


class EtlError(Exception):
    """Base class: every error the CLI turns into one clear line."""


class ConfigError(EtlError):
    """Bad usage or configuration (exit code 2)."""


class AbortError(EtlError):
    """The whole run cannot go on: token refused, database unreachable (exit code 3)."""


class ApiError(EtlError):
    """The API answered something that is not a good page (one agent fails, the run goes on)."""


class AuthError(AbortError, ApiError):
    """The API refused the token (401, or 403 with a refusal's body): nothing else can succeed."""
