"""Gate overrides from the environment: ``CANARY_THRESHOLD_[<TENANT>_]<GATE>`` and
``CANARY_BACKOUT_FACTOR``.

An env value is the highest layer of a gate's threshold (tenant above global); each variable is
checked in full, even for a gate disabled here, so that a typo is never silent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.core.gates import GateSpec

ENV_PREFIX = "CANARY_THRESHOLD_"
ENV_BACKOUT_FACTOR = "CANARY_BACKOUT_FACTOR"


def gate_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables that change gates (``CANARY_THRESHOLD_*``, ``CANARY_BACKOUT_FACTOR``), sorted.

    A run takes them once: looking for them in the whole environment per tenant and item cost
    more than merging the gates.
    """
    return {
        name: environ[name]
        for name in sorted(environ)
        if name.startswith(ENV_PREFIX) or name == ENV_BACKOUT_FACTOR
    }


def env_number(
    name: str, text: str, *, minimum: float = 0.0, maximum: float | None = None
) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    valid = math.isfinite(value) and value >= minimum and (maximum is None or value <= maximum)
    if not valid:
        span = f"in [{minimum:g}, {maximum:g}]" if maximum is not None else f">= {minimum:g}"
        raise CanaryUsageError(f"{name}={text!r}: must be a finite number {span}")
    return value


def env_key(name: str) -> str:
    return name.upper().replace("-", "_")


def apply_env(
    specs: list[GateSpec], tenant: str | None, environ: Mapping[str, str], known: set[str]
) -> list[GateSpec]:
    by_key = {env_key(name): name for name in known}
    tenant_key = env_key(tenant) if tenant is not None else None
    global_values: dict[str, tuple[str, str]] = {}
    tenant_values: dict[str, tuple[str, str]] = {}
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX):
            continue
        suffix = variable[len(ENV_PREFIX) :]
        if suffix in by_key:  # an exact global gate name wins the parse
            global_values[by_key[suffix]] = (variable, environ[variable])
            continue
        matches = [
            key for key in by_key if suffix.endswith("_" + key) and len(suffix) > len(key) + 1
        ]
        if not matches:
            raise CanaryUsageError(
                f"{variable}: names no gate; gates are {', '.join(sorted(by_key))}"
            )
        key = max(matches, key=len)
        if suffix[: -len(key) - 1] == tenant_key:
            tenant_values[by_key[key]] = (variable, environ[variable])
    result = []
    for spec in specs:
        for override in (global_values.get(spec.name), tenant_values.get(spec.name)):
            if override is None:
                continue
            variable, text = override
            maximum = 1.0 if spec.metric.is_rate else None
            value = env_number(variable, text, maximum=maximum)
            if spec.backout is not None and value > spec.backout:
                raise CanaryUsageError(
                    f"{variable}={text!r}: above the gate's backout {spec.backout:g} "
                    f"({spec.backout_source})"
                )
            spec = replace(spec, threshold=value, source=f"env {variable}")
        result.append(spec)
    # Variables for gates that are disabled here are still validated: a typo is never silent.
    for variable, text in [*global_values.values(), *tenant_values.values()]:
        env_number(variable, text)
    return result
