"""Reading gate definitions: built-ins, TOML gate files and tenant tables (env overrides: gate_env).

The gates themselves are data in :mod:`pytest_canary.core.gates`; this module builds them.

Every threshold carries the source it came from, so a decision can say why a value is what it is.
Precedence, lowest first: built-in, gate file, the gate file's tenant table, env global, env tenant.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pytest_canary.core import kinds
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.core.gates import VOLUME_GATE, GateSet, GateSpec, Metric
from pytest_canary.core.jsonfile import InvalidInput
from pytest_canary.core.schedule import Promotion
from pytest_canary.core.tenants import is_tenant_id
from pytest_canary.store.files import read_text
from pytest_canary.store.gate_env import (
    ENV_BACKOUT_FACTOR,
    ENV_PREFIX,
    apply_env,
    env_key,
    env_number,
    gate_variables,
)

BUILTIN_SOURCE = "built-in"


class _GateTable(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    metric: str | None = None
    max: float | None = Field(default=None, allow_inf_nan=False)
    min: float | None = Field(default=None, allow_inf_nan=False)
    backout: float | None = Field(default=None, allow_inf_nan=False)
    label: str | None = None
    needs_volume: bool | None = None
    shadow: bool | None = None
    enabled: bool | None = None
    # Keys of the gate kinds (pytest_canary.core.kinds), which judge their values.
    evidence: Literal["threshold", "wilson"] | None = None
    compare: Literal["control"] | None = None
    confidence: float | None = Field(default=None, allow_inf_nan=False)
    max_diff: float | None = Field(default=None, allow_inf_nan=False)
    max_ratio: float | None = Field(default=None, allow_inf_nan=False)
    backout_diff: float | None = Field(default=None, allow_inf_nan=False)
    backout_ratio: float | None = Field(default=None, allow_inf_nan=False)


class _PromotionTable(BaseModel):
    """The ``[canary]`` keys a tenant table may override: when a GO may raise the quota."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    freeze: list[str | dt.date] | None = None
    promote_days: list[str] | None = None
    min_green_days: int | None = None
    stale_after_hours: float | None = Field(default=None, allow_inf_nan=False)


class _CanaryTable(_PromotionTable):
    steps: list[int] | None = None
    backout_factor: float | None = Field(default=None, allow_inf_nan=False)


class _TenantTable(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    canary: _PromotionTable = Field(default_factory=_PromotionTable)
    gates: dict[str, _GateTable] = Field(default_factory=dict)


class _GateFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    canary: _CanaryTable = Field(default_factory=_CanaryTable)
    gates: dict[str, _GateTable] = Field(default_factory=dict)
    tenants: dict[str, _TenantTable] = Field(default_factory=dict)


@dataclass
class _Draft:
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def merge(self, table: _GateTable, source: str) -> None:
        given = table.model_dump(exclude_none=True)
        # Setting one bound replaces the other: a gate is either a ceiling or a floor.
        for bound, other in (("max", "min"), ("min", "max")):
            if bound in given:
                self.values.pop(other, None)
        for key, value in given.items():
            self.values[key] = value
            self.sources[key] = source


def builtin_gate_text() -> str:
    return resources.files("pytest_canary").joinpath("data/mahnwesen.toml").read_text("utf-8")


def gate_files(path: Path | None) -> list[Path]:
    """The TOML files a ``--canary-gates`` path names: the file itself, or a folder's ``*.toml``."""
    if path is None:
        return []
    if path.is_dir():
        return sorted(path.glob("*.toml"))
    if path.exists():  # a FIFO or device too: reading it refuses it in one line
        return [path]
    raise CanaryUsageError(f"--canary-gates {path}: no such file or folder")


def _parse_file(text: str, where: str) -> _GateFile:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CanaryUsageError(f"{where}: not valid TOML ({exc})") from None
    except RecursionError:
        raise CanaryUsageError(f"{where}: not valid TOML (nested too deeply)") from None
    try:
        parsed = _GateFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        raise CanaryUsageError(f"{where}: {loc}: {first['msg']}") from None
    for tenant in parsed.tenants:  # a table no tenant id can match would apply to nobody
        if not is_tenant_id(tenant):
            raise CanaryUsageError(
                f"{where}: [tenants.{tenant!a}]: not a tenant id (1-63 of a-z, 0-9, '-', '_')"
            )
    return parsed


@dataclass(frozen=True)
class GateConfig:
    """All gate files of a run, merged; per-tenant sets come from :meth:`for_tenant`."""

    layers: tuple[tuple[_GateFile, str], ...]
    files: tuple[str, ...]
    # GateSets are immutable, and every tenant without a table or variable of its own shares one:
    # a run of 10,000 tenants merges the layers a handful of times, not 10,000 times (or more).
    _memo: dict[tuple[str | None, tuple[tuple[str, str], ...]], GateSet] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def load(cls, files: Sequence[Path], display: Mapping[Path, str] | None = None) -> GateConfig:
        """The gate files at ``files`` (each shown as ``display`` names it) over the built-ins."""
        return cls.parse(_read_texts(files, display or {}))

    @classmethod
    def parse(cls, texts: Iterable[tuple[str, str]]) -> GateConfig:
        """Gate files' texts, each with where it came from, over the built-ins; read in order,
        so the first bad file is the one named."""
        layers = [(_parse_file(builtin_gate_text(), BUILTIN_SOURCE), BUILTIN_SOURCE)]
        layers += [(_parse_file(text, where), where) for text, where in texts]
        config = cls(tuple(layers), tuple(where for _, where in layers[1:]))
        config.for_tenant(None, {})  # fail on a bad gate file now, not on the first tenant
        return config

    def for_tenant(self, tenant: str | None, environ: Mapping[str, str]) -> GateSet:
        """The tenant's effective gates (``None``: the gates of a tenant without own values)."""
        env = tuple(gate_variables(environ).items())
        own = tenant is not None and (
            any(tenant in parsed.tenants for parsed, _ in self.layers)
            or any(name.startswith(f"{ENV_PREFIX}{env_key(tenant)}_") for name, _ in env)
        )
        key = (tenant if own else None, env)
        cached = self._memo.get(key)
        if cached is None:
            cached = self._merge(tenant if own else None, dict(env))
            self._memo[key] = cached
        return cached

    def _merge(self, tenant: str | None, environ: Mapping[str, str]) -> GateSet:
        steps: tuple[int, ...] = ()
        factor, factor_source = 2.0, BUILTIN_SOURCE
        drafts: dict[str, _Draft] = {}
        promotion = Promotion()
        for parsed, source in self.layers:
            promotion = promotion.merge(parsed.canary.model_dump(exclude_none=True), source)
            if tenant is not None and tenant in parsed.tenants:
                own = parsed.tenants[tenant].canary.model_dump(exclude_none=True)
                promotion = promotion.merge(own, f"{source} [tenants.{tenant}.canary]")
            if parsed.canary.steps is not None:
                steps = _valid_steps(parsed.canary.steps, source)
            if parsed.canary.backout_factor is not None:
                factor = _valid_factor(parsed.canary.backout_factor, source)
                factor_source = source
            for name, table in parsed.gates.items():
                drafts.setdefault(name, _Draft()).merge(table, source)
            if tenant is not None and tenant in parsed.tenants:
                for name, table in parsed.tenants[tenant].gates.items():
                    drafts.setdefault(name, _Draft()).merge(table, f"{source} [tenants.{tenant}]")
        if ENV_BACKOUT_FACTOR in environ:
            factor = env_number(ENV_BACKOUT_FACTOR, environ[ENV_BACKOUT_FACTOR], minimum=1.0)
            factor_source = f"env {ENV_BACKOUT_FACTOR}"
        specs = [
            _finish(name, draft)
            for name, draft in drafts.items()
            if draft.values.get("enabled", True)
        ]
        specs = apply_env(specs, tenant, environ, known=self._gate_names())
        for spec in specs:
            _require_finite_backout(spec, factor, factor_source)
        return GateSet(steps, factor, factor_source, tuple(specs), self.files, promotion)

    def _gate_names(self) -> set[str]:
        """Every gate a layer names, tenant tables included, so that a variable for one tenant's
        own gate does not "name no gate" while another tenant is decided."""
        names: set[str] = set()
        for parsed, _ in self.layers:
            names.update(parsed.gates)
            for table in parsed.tenants.values():
                names.update(table.gates)
        return names


def _read_texts(files: Sequence[Path], display: Mapping[Path, str]) -> Iterator[tuple[str, str]]:
    for path in files:
        where = display.get(path, str(path))
        try:
            yield read_text(path, where), where
        except InvalidInput as exc:
            raise CanaryUsageError(str(exc)) from None


def _valid_steps(steps: list[int], source: str) -> tuple[int, ...]:
    if not steps or any(not 0 < s <= 100 for s in steps) or sorted(set(steps)) != steps:
        raise CanaryUsageError(
            f"{source}: canary.steps must be rising percentages in 1..100, got {steps}"
        )
    return tuple(steps)


def _valid_factor(value: float, source: str) -> float:
    if not math.isfinite(value) or value < 1:
        raise CanaryUsageError(f"{source}: backout_factor must be a number >= 1, got {value}")
    return value


def _finish(name: str, draft: _Draft) -> GateSpec:
    values, sources = draft.values, draft.sources
    where = f"gate {name!r}"
    if "metric" not in values:
        raise CanaryUsageError(f"{where} ({sources.get('max') or sources.get('min')}): no metric")
    metric = Metric.parse(values["metric"], f"{where} ({sources['metric']})")
    kind = kinds.select(values, where)
    if kind is not None:
        given_in = sources[kind.selector[0]]
        params = kind.parse(values, metric, f"{where} ({given_in})")
        if kind.own_bound:
            return _own_bound(name, values, sources, metric, params)
    spec = _bound_gate(name, values, sources, metric)
    return spec if kind is None else replace(spec, kind=params)


def _own_bound(
    name: str,
    values: dict[str, Any],
    sources: dict[str, str],
    metric: Metric,
    params: kinds.KindParams,
) -> GateSpec:
    """A gate whose kind sets its own bound: ``max_diff`` is its threshold, ``backout_diff``
    its backout (so env overrides and the decision's thresholds treat them as for any gate)."""
    threshold_key = "max_diff" if "max_diff" in values else "compare"
    return GateSpec(
        name=name,
        metric=metric,
        op="<=",
        threshold=float(values.get("max_diff", 0.0)),
        source=sources[threshold_key],
        label=values.get("label", name),
        backout=values.get("backout_diff"),
        backout_source=sources.get("backout_diff"),
        needs_volume=values.get("needs_volume", True),
        shadow=values.get("shadow", False),
        kind=params,
    )


def _bound_gate(
    name: str, values: dict[str, Any], sources: dict[str, str], metric: Metric
) -> GateSpec:
    where = f"gate {name!r}"
    if ("max" in values) == ("min" in values):
        given_in = sources.get("max") or sources.get("min") or sources["metric"]
        raise CanaryUsageError(f"{where} ({given_in}): give exactly one of max or min")
    bound = "max" if "max" in values else "min"
    threshold = _valid_threshold(values[bound], metric, f"{where} {bound} ({sources[bound]})")
    backout = values.get("backout")
    if backout is not None:
        if bound == "min":
            raise CanaryUsageError(f"{where} ({sources['backout']}): a min gate cannot back out")
        if backout < threshold:
            raise CanaryUsageError(
                f"{where} ({sources['backout']}): backout {backout:g} is below max {threshold:g}"
            )
    return GateSpec(
        name=name,
        metric=metric,
        op="<=" if bound == "max" else ">=",
        threshold=threshold,
        source=sources[bound],
        label=values.get("label", name),
        backout=backout,
        backout_source=sources.get("backout"),
        needs_volume=values.get("needs_volume", metric.is_rate) and name != VOLUME_GATE,
        shadow=values.get("shadow", False),
    )


def _require_finite_backout(spec: GateSpec, factor: float, factor_source: str) -> None:
    """A threshold so large that ``factor`` times it is infinite could never be written down.

    JSON has no infinity: the decision would record one the rollout refuses to read, so the value
    is refused here, where the variable or the file that set it can still be named.
    """
    backout = spec.backout_threshold(factor)
    if backout is None or math.isfinite(backout):
        return
    raise CanaryUsageError(
        f"gate {spec.name!r} max {spec.threshold:g} ({spec.source}): times backout_factor"
        f" {factor:g} ({factor_source}) is not a finite number; give a smaller max or a"
        " backout of its own"
    )


def _valid_threshold(value: float, metric: Metric, where: str) -> float:
    if value < 0:
        raise CanaryUsageError(f"{where}: must be >= 0, got {value:g}")
    if metric.is_rate and value > 1:
        raise CanaryUsageError(
            f"{where}: {metric} is a fraction in [0, 1] (0.02 is 2 %), got {value:g}"
        )
    return float(value)
