"""The tenant-id rule, written once: the models, the layout, the gate files, the KPI events and
the dispatch check all ask here.

Light on purpose (no pydantic): the dispatch check and the ``canary`` parser import it.
"""

from __future__ import annotations

import re

from pytest_canary.core.errors import CanaryUsageError

TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
RESERVED = "all"
"""Not a tenant id: it selects every tenant folder."""

_TENANT_RE = re.compile(TENANT_PATTERN)


def is_tenant_id(value: object) -> bool:
    """Whether ``value`` is a tenant id: it matches :data:`TENANT_PATTERN` and is not ``all``."""
    # fullmatch and no re.IGNORECASE: a trailing newline or a look-alike letter never passes.
    return isinstance(value, str) and bool(_TENANT_RE.fullmatch(value)) and value != RESERVED


def validate_tenant_id(tenant: str) -> str:
    """Return ``tenant`` when it is a valid id, else raise :class:`CanaryUsageError` (one line)."""
    if tenant == RESERVED:
        raise CanaryUsageError(
            "invalid tenant id 'all': it is reserved (it selects every tenant folder)"
        )
    if not is_tenant_id(tenant):
        raise CanaryUsageError(
            f"invalid tenant id {tenant!a}: expected 1-63 characters of a-z, 0-9, '-', '_',"
            " starting with a letter or digit"
        )
    return tenant
