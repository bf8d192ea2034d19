"""Gate definitions (docs/contract.md, Gates): built-ins, gate files, tenant tables, env overrides and sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _engine_fixtures import gate_set
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.core.gates import GateSet
from pytest_canary.store.gates import GateConfig, gate_files


def _thresholds(gates: GateSet) -> dict[str, tuple[str, float, str]]:
    return {g.name: (g.op, g.threshold, g.source) for g in gates.gates}


def _file(tmp_path: Path, text: str, name: str = "gates.toml") -> Path:
    path = tmp_path / "gates" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def _refused(*, toml: str | None = None, env: dict[str, str] | None = None) -> str:
    with pytest.raises(CanaryUsageError) as info:
        gate_set(toml, env)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- built-ins --------------------------------------------------------------------------------


def test_built_in_gates_are_the_spec_defaults() -> None:
    gates = GateConfig.load([]).for_tenant("acme", {})

    assert gates.steps == (10, 25, 50, 100)
    assert (gates.backout_factor, gates.backout_factor_source) == (2.0, "built-in")
    assert _thresholds(gates) == {
        "error_rate": ("<=", 0.02, "built-in"),
        "hard_bounce_rate": ("<=", 0.05, "built-in"),
        "dlq_depth": ("<=", 10, "built-in"),
        "retry_depth": ("<=", 50, "built-in"),
        "min_volume": (">=", 3, "built-in"),
    }
    labels = {g.name: g.label for g in gates.gates}
    assert labels == {
        "error_rate": "Fehlerquote",
        "hard_bounce_rate": "Hard-Bounce-Rate",
        "dlq_depth": "DLQ-Tiefe",
        "retry_depth": "Retry-Tiefe",
        "min_volume": "Mindestvolumen",
    }
    assert {g.name for g in gates.gates if g.needs_volume} == {"error_rate", "hard_bounce_rate"}
    assert not any(g.shadow for g in gates.gates)
    assert gates.files == ()


def test_built_in_backout_thresholds_are_twice_the_threshold() -> None:
    gates = GateConfig.load([]).for_tenant("acme", {})

    backout = {g.name: g.backout_threshold(gates.backout_factor) for g in gates.gates}
    assert backout == {
        "error_rate": pytest.approx(0.04),
        "hard_bounce_rate": pytest.approx(0.10),
        "dlq_depth": 20,
        "retry_depth": 100,
        "min_volume": None,
    }


def test_without_a_tenant_the_global_gates_apply() -> None:
    gates = gate_set("[tenants.acme.gates.dlq_depth]\nmax = 30\n", tenant=None)

    assert gates.get("dlq_depth") is not None
    assert _thresholds(gates)["dlq_depth"] == ("<=", 10, "built-in")


# --- gate files -------------------------------------------------------------------------------


def test_a_gate_file_merges_per_gate_and_key(tmp_path: Path) -> None:
    path = _file(tmp_path, "[gates.dlq_depth]\nmax = 15\n")

    gates = GateConfig.load([path]).for_tenant("acme", {})

    dlq = gates.get("dlq_depth")
    assert dlq is not None
    assert (dlq.threshold, dlq.source) == (15, str(path))
    assert (dlq.label, str(dlq.metric)) == ("DLQ-Tiefe", "dlq_depth")
    assert _thresholds(gates)["retry_depth"] == ("<=", 50, "built-in")
    assert gates.files == (str(path),)


def test_a_display_name_is_the_recorded_source(tmp_path: Path) -> None:
    path = _file(tmp_path, "[gates.dlq_depth]\nmax = 15\n")

    gates = GateConfig.load([path], {path: "gates/mahnwesen.toml"}).for_tenant("acme", {})

    assert _thresholds(gates)["dlq_depth"] == ("<=", 15, "gates/mahnwesen.toml")


def test_later_gate_files_override_earlier_ones(tmp_path: Path) -> None:
    _file(tmp_path, "[gates.dlq_depth]\nmax = 15\nlabel = 'first'\n", "a.toml")
    _file(tmp_path, "[gates.dlq_depth]\nmax = 17\n", "b.toml")
    files = gate_files(tmp_path / "gates")

    gates = GateConfig.load(files).for_tenant("acme", {})

    assert [f.name for f in files] == ["a.toml", "b.toml"]
    dlq = gates.get("dlq_depth")
    assert dlq is not None
    assert (dlq.threshold, dlq.label) == (17, "first")
    assert dlq.source.endswith("b.toml")


def test_gate_files_of_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(CanaryUsageError, match="no such file or folder"):
        gate_files(tmp_path / "nowhere")
    assert gate_files(None) == []


def test_enabled_false_removes_a_gate() -> None:
    gates = gate_set("[gates.retry_depth]\nenabled = false\n")

    assert gates.get("retry_depth") is None
    assert [g.name for g in gates.gates] == [
        "error_rate",
        "hard_bounce_rate",
        "dlq_depth",
        "min_volume",
    ]


def test_a_tenant_table_can_enable_again_what_the_file_disabled() -> None:
    toml = (
        "[gates.retry_depth]\nenabled = false\n[tenants.acme.gates.retry_depth]\nenabled = true\n"
    )

    assert gate_set(toml, tenant="acme").get("retry_depth") is not None
    assert gate_set(toml, tenant="globex").get("retry_depth") is None


def test_a_new_gate_from_a_file() -> None:
    toml = '[gates.soft_bounce_rate]\nmetric = "soft_bounces / notices_sent"\nmax = 0.1\nshadow = true\n'

    spec = gate_set(toml).get("soft_bounce_rate")

    assert spec is not None
    assert spec.metric.fields == ("soft_bounces", "notices_sent")
    assert spec.metric.is_rate and spec.needs_volume and spec.shadow
    assert spec.label == "soft_bounce_rate"
    assert spec.backout_threshold(2.0) == pytest.approx(0.2)


def test_max_replaces_min_and_min_replaces_max() -> None:
    toml = "[gates.dlq_depth]\nmin = 1\n[gates.min_volume]\nmax = 5000\n"

    thresholds = _thresholds(gate_set(toml))

    assert thresholds["dlq_depth"][:2] == (">=", 1)
    assert thresholds["min_volume"][:2] == ("<=", 5000)


def test_custom_steps_and_backout_factor() -> None:
    gates = gate_set("[canary]\nsteps = [5, 20, 100]\nbackout_factor = 1.5\n")

    assert gates.steps == (5, 20, 100)
    assert gates.backout_factor == 1.5
    assert gates.backout_factor_source.endswith("extra.toml")
    dlq = gates.get("dlq_depth")
    assert dlq is not None
    assert dlq.backout_threshold(gates.backout_factor) == 15


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[gates.dlq_depth]\nmaxx = 5\n", "maxx"),
        ("[gates.dlq_depth]\nmax = 5\ncolor = 'red'\n", "color"),
        ("[canary]\nstepz = [10, 100]\n", "stepz"),
        ("[other]\nx = 1\n", "other"),
        ("[tenants.acme]\nthreshold = 1\n", "threshold"),
        ("[tenants.acme.gates.dlq_depth]\nmaximum = 1\n", "maximum"),
    ],
)
def test_unknown_keys_are_a_usage_error(toml: str, expected: str) -> None:
    message = _refused(toml=toml)

    assert expected in message
    assert "extra.toml" in message


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[gates.dlq_depth\nmax = 5\n", "not valid TOML"),
        ("[gates.dlq_depth]\nmax = '15'\n", "max"),
        ("[gates.dlq_depth]\nmax = true\n", "max"),
        ("[gates.dlq_depth]\nmax = nan\n", "max"),
        ("[gates.dlq_depth]\nmax = inf\n", "max"),
        ("[gates.dlq_depth]\nmax = -1\n", "must be >= 0"),
        ("[gates.error_rate]\nmax = 3\n", "fraction in [0, 1]"),
        ("[gates.hard_bounce_rate]\nmax = 1.5\n", "fraction in [0, 1]"),
        ("[gates.dlq_depth]\nmin = 1\nmax = 2\n", "exactly one of max or min"),
        ("[gates.new_gate]\nmax = 2\n", "no metric"),
        ("[gates.new_gate]\nmetric = 'dlq_depth'\n", "exactly one of max or min"),
        ("[gates.new]\nmetric = '__import__(\"os\")'\nmax = 1\n", "metric"),
        ("[gates.new]\nmetric = 'a / b / c'\nmax = 1\n", "metric"),
        ("[gates.new]\nmetric = 'a * b'\nmax = 1\n", "metric"),
        ("[gates.dlq_depth]\nbackout = 5\n", "below max"),
        ("[gates.min_volume]\nbackout = 5\n", "cannot back out"),
        ("[canary]\nsteps = []\n", "steps"),
        ("[canary]\nsteps = [25, 10, 100]\n", "steps"),
        ("[canary]\nsteps = [10, 10, 100]\n", "steps"),
        ("[canary]\nsteps = [0, 10, 100]\n", "steps"),
        ("[canary]\nsteps = [10, 101]\n", "steps"),
        ("[canary]\nbackout_factor = 0.5\n", "backout_factor"),
        ("[canary]\nbackout_factor = nan\n", "backout_factor"),
    ],
)
def test_an_invalid_gate_file_is_a_usage_error_naming_it(toml: str, expected: str) -> None:
    message = _refused(toml=toml)

    assert expected in message
    assert "extra.toml" in message


def test_an_invalid_tenant_table_fails_at_load_time_only_for_its_tenant(tmp_path: Path) -> None:
    # A bad value in one tenant's table is found when that tenant is decided.
    path = _file(tmp_path, "[tenants.acme.gates.error_rate]\nmax = 3\n")
    config = GateConfig.load([path])

    assert config.for_tenant("globex", {}).get("error_rate") is not None
    with pytest.raises(CanaryUsageError, match=r"tenants\.acme"):
        config.for_tenant("acme", {})


def test_an_unreadable_gate_file_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "gates.toml"
    path.write_bytes(b"\xff\xfe[gates]")

    with pytest.raises(CanaryUsageError, match=r"gates\.toml"):
        GateConfig.load([path])


# --- tenant tables and env overrides ----------------------------------------------------------


def test_a_tenant_table_applies_to_its_tenant_only() -> None:
    toml = "[tenants.acme.gates.dlq_depth]\nmax = 30\n"

    acme = gate_set(toml, tenant="acme")
    globex = gate_set(toml, tenant="globex")

    op, value, source = _thresholds(acme)["dlq_depth"]
    assert (op, value) == ("<=", 30)
    assert source.endswith("extra.toml [tenants.acme]")
    assert _thresholds(globex)["dlq_depth"] == ("<=", 10, "built-in")


def test_env_global_override_applies_to_every_tenant() -> None:
    env = {"CANARY_THRESHOLD_ERROR_RATE": "0.03"}

    for tenant in ("acme", "globex"):
        spec = gate_set(env=env, tenant=tenant).get("error_rate")
        assert spec is not None
        assert (spec.threshold, spec.source) == (0.03, "env CANARY_THRESHOLD_ERROR_RATE")


def test_env_tenant_override_applies_to_its_tenant_only() -> None:
    env = {"CANARY_THRESHOLD_ACME_DLQ_DEPTH": "25"}

    acme = gate_set(env=env, tenant="acme")
    globex = gate_set(env=env, tenant="globex")

    assert _thresholds(acme)["dlq_depth"] == ("<=", 25, "env CANARY_THRESHOLD_ACME_DLQ_DEPTH")
    assert _thresholds(globex)["dlq_depth"] == ("<=", 10, "built-in")


@pytest.mark.parametrize(
    ("tenant", "variable"),
    [
        ("acme-eu", "CANARY_THRESHOLD_ACME_EU_DLQ_DEPTH"),
        ("acme_eu", "CANARY_THRESHOLD_ACME_EU_DLQ_DEPTH"),
        ("7eleven", "CANARY_THRESHOLD_7ELEVEN_DLQ_DEPTH"),
    ],
)
def test_env_tenant_names_are_upper_case_with_dashes_as_underscores(
    tenant: str, variable: str
) -> None:
    gates = gate_set(env={variable: "12"}, tenant=tenant)

    assert _thresholds(gates)["dlq_depth"] == ("<=", 12, f"env {variable}")


def test_env_tenant_override_of_a_rate_gate_with_underscores() -> None:
    variable = "CANARY_THRESHOLD_ACME_HARD_BOUNCE_RATE"
    gates = gate_set(env={variable: "0.07"}, tenant="acme")

    assert _thresholds(gates)["hard_bounce_rate"] == ("<=", 0.07, f"env {variable}")
    assert _thresholds(gates)["error_rate"] == ("<=", 0.02, "built-in")


LAYERS = [
    ("built-in", None, {}, 10, "built-in"),
    ("file", "[gates.dlq_depth]\nmax = 11\n", {}, 11, "extra.toml"),
    (
        "tenant-table",
        "[gates.dlq_depth]\nmax = 11\n[tenants.acme.gates.dlq_depth]\nmax = 12\n",
        {},
        12,
        "extra.toml [tenants.acme]",
    ),
    (
        "env-global",
        "[gates.dlq_depth]\nmax = 11\n[tenants.acme.gates.dlq_depth]\nmax = 12\n",
        {"CANARY_THRESHOLD_DLQ_DEPTH": "13"},
        13,
        "env CANARY_THRESHOLD_DLQ_DEPTH",
    ),
    (
        "env-tenant",
        "[gates.dlq_depth]\nmax = 11\n[tenants.acme.gates.dlq_depth]\nmax = 12\n",
        {"CANARY_THRESHOLD_DLQ_DEPTH": "13", "CANARY_THRESHOLD_ACME_DLQ_DEPTH": "14"},
        14,
        "env CANARY_THRESHOLD_ACME_DLQ_DEPTH",
    ),
    (
        "env-tenant-without-global",
        "[tenants.acme.gates.dlq_depth]\nmax = 12\n",
        {"CANARY_THRESHOLD_ACME_DLQ_DEPTH": "14"},
        14,
        "env CANARY_THRESHOLD_ACME_DLQ_DEPTH",
    ),
]


@pytest.mark.parametrize(
    ("toml", "env", "value", "source"),
    [layer[1:] for layer in LAYERS],
    ids=[layer[0] for layer in LAYERS],
)
def test_precedence_built_in_file_tenant_table_env_global_env_tenant(
    toml: str | None, env: dict[str, str], value: float, source: str
) -> None:
    spec = gate_set(toml, env).get("dlq_depth")

    assert spec is not None
    assert spec.threshold == value
    assert spec.source.endswith(source)


@pytest.mark.parametrize(
    ("variable", "text"),
    [
        ("CANARY_THRESHOLD_ERROR_RATE", "3"),  # 3 % written as 3: refused
        ("CANARY_THRESHOLD_ERROR_RATE", "1.01"),
        ("CANARY_THRESHOLD_ACME_HARD_BOUNCE_RATE", "5"),
        ("CANARY_THRESHOLD_DLQ_DEPTH", "-1"),
        ("CANARY_THRESHOLD_DLQ_DEPTH", "nan"),
        ("CANARY_THRESHOLD_DLQ_DEPTH", "NaN"),
        ("CANARY_THRESHOLD_DLQ_DEPTH", "inf"),
        ("CANARY_THRESHOLD_DLQ_DEPTH", "-inf"),
        ("CANARY_THRESHOLD_DLQ_DEPTH", "1e999"),
        ("CANARY_THRESHOLD_DLQ_DEPTH", "ten"),
        ("CANARY_THRESHOLD_DLQ_DEPTH", ""),
        ("CANARY_THRESHOLD_DLQ_DEPTH", "10%"),
        ("CANARY_THRESHOLD_ERROR_RATE", "2%"),
        ("CANARY_THRESHOLD_ACME_DLQ_DEPTH", "-0.5"),
        ("CANARY_THRESHOLD_ACME_RETRY_DEPTH", "lots"),
        ("CANARY_BACKOUT_FACTOR", "0.99"),
        ("CANARY_BACKOUT_FACTOR", "0"),
        ("CANARY_BACKOUT_FACTOR", "-2"),
        ("CANARY_BACKOUT_FACTOR", "nan"),
        ("CANARY_BACKOUT_FACTOR", "inf"),
        ("CANARY_BACKOUT_FACTOR", "double"),
    ],
)
def test_an_invalid_env_value_is_refused_naming_the_variable(variable: str, text: str) -> None:
    message = _refused(env={variable: text})

    assert message.startswith(f"{variable}=")
    assert "must be a finite number" in message


@pytest.mark.parametrize(
    "variable",
    [
        "CANARY_THRESHOLD_FOO",
        "CANARY_THRESHOLD_ERRORRATE",
        "CANARY_THRESHOLD_",
        "CANARY_THRESHOLD_ACME_FOO",
        "CANARY_THRESHOLD__DLQ_DEPTH_X",
    ],
)
def test_an_env_variable_naming_no_gate_is_refused(variable: str) -> None:
    message = _refused(env={variable: "1"})

    assert message.startswith(variable)
    assert "names no gate" in message
    assert "dlq_depth" in message.lower()


def test_env_values_for_a_disabled_gate_are_still_checked() -> None:
    message = _refused(
        toml="[gates.dlq_depth]\nenabled = false\n",
        env={"CANARY_THRESHOLD_DLQ_DEPTH": "ten"},
    )

    assert message.startswith("CANARY_THRESHOLD_DLQ_DEPTH=")


def test_env_threshold_above_the_gates_own_backout_is_refused() -> None:
    message = _refused(
        toml="[gates.dlq_depth]\nbackout = 15\n",
        env={"CANARY_THRESHOLD_ACME_DLQ_DEPTH": "16"},
    )

    assert message.startswith("CANARY_THRESHOLD_ACME_DLQ_DEPTH=")
    assert "backout" in message


@pytest.mark.parametrize(
    ("variable", "text", "gate", "value"),
    [
        ("CANARY_THRESHOLD_ERROR_RATE", "0", "error_rate", 0.0),
        ("CANARY_THRESHOLD_ERROR_RATE", "1", "error_rate", 1.0),
        ("CANARY_THRESHOLD_ERROR_RATE", " 0.03 ", "error_rate", 0.03),
        ("CANARY_THRESHOLD_DLQ_DEPTH", "1e3", "dlq_depth", 1000.0),
        ("CANARY_THRESHOLD_MIN_VOLUME", "0", "min_volume", 0.0),
        ("CANARY_THRESHOLD_ACME_MIN_VOLUME", "250", "min_volume", 250.0),
    ],
)
def test_valid_env_values_are_taken(variable: str, text: str, gate: str, value: float) -> None:
    spec = gate_set(env={variable: text}).get(gate)

    assert spec is not None
    assert (spec.threshold, spec.source) == (value, f"env {variable}")


def test_env_backout_factor_overrides_the_file_and_records_its_source() -> None:
    gates = gate_set("[canary]\nbackout_factor = 3.0\n", env={"CANARY_BACKOUT_FACTOR": "1"})

    assert (gates.backout_factor, gates.backout_factor_source) == (
        1.0,
        "env CANARY_BACKOUT_FACTOR",
    )
    dlq = gates.get("dlq_depth")
    assert dlq is not None
    assert dlq.backout_threshold(gates.backout_factor) == 10


def test_an_exact_global_gate_name_wins_the_parse() -> None:
    # Gate "eu_dlq_depth" and tenant "eu" both fit CANARY_THRESHOLD_EU_DLQ_DEPTH: the gate wins.
    toml = '[gates.eu_dlq_depth]\nmetric = "dlq_depth"\nmax = 5\n'
    env = {"CANARY_THRESHOLD_EU_DLQ_DEPTH": "7"}

    for tenant in ("eu", "acme"):
        thresholds = _thresholds(gate_set(toml, env, tenant=tenant))
        assert thresholds["eu_dlq_depth"] == ("<=", 7, "env CANARY_THRESHOLD_EU_DLQ_DEPTH")
        assert thresholds["dlq_depth"] == ("<=", 10, "built-in")


def test_unrelated_environment_is_ignored() -> None:
    env: dict[str, Any] = {"PATH": "/bin", "CANARY_ROOT": "/tmp/x", "CANARY_TRACE_ID": "x"}

    assert _thresholds(gate_set(env=env)) == _thresholds(gate_set())


def test_a_variable_for_one_tenants_own_gate_leaves_other_tenants_alone() -> None:
    # A multi-tenant run decides globex too: acme's own gate is not "naming no gate" there.
    toml = '[tenants.acme.gates.bounce_spike]\nmetric = "soft_bounces"\nmax = 5\n'
    env = {"CANARY_THRESHOLD_ACME_BOUNCE_SPIKE": "7"}

    acme = gate_set(toml, env, tenant="acme")
    globex = gate_set(toml, env, tenant="globex")

    assert _thresholds(acme)["bounce_spike"] == ("<=", 7, "env CANARY_THRESHOLD_ACME_BOUNCE_SPIKE")
    assert globex.get("bounce_spike") is None
    assert _thresholds(globex)["dlq_depth"] == ("<=", 10, "built-in")
    with pytest.raises(CanaryUsageError, match="CANARY_THRESHOLD_BOUNCE_SPIKE="):
        gate_set(toml, {"CANARY_THRESHOLD_BOUNCE_SPIKE": "lots"}, tenant="globex")
