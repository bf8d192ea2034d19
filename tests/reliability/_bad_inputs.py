"""The malformed inputs of campaign 1, hand-written and generated (seeded), as plain data.

A :class:`BadCase` names what it breaks (``category``), the bytes or values it puts there, and
whether the input is invalid by the contract (then it may never give GO nor change the state). A few
odd but valid inputs ride along (``invalid=False``): they must only not crash.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from _reliability import (
    KPI_DATE,
    TENANT,
    decision_doc,
    dump,
    good_blocklist,
    good_kpis,
    state_doc,
)

BIG = "<50 MB>"
FOLDER = "<folder>"
LOOP = "<symlink loop>"
FIFTY_MB = 50 * 1024 * 1024


@dataclass(frozen=True)
class BadCase:
    ident: str
    category: str  # kpi, blocklist, state, decision, gates, env, options, tenant
    payload: bytes | str = b""  # file contents, or BIG / FOLDER / LOOP
    env: dict[str, str] = field(default_factory=dict)
    options: dict[str, list[str]] = field(default_factory=dict)  # command -> extra argv
    tenant: str = TENANT
    invalid: bool = True


GOOD_GATES = b"""[canary]
steps = [10, 25, 50, 100]
backout_factor = 2.0

[gates.error_rate]
metric = "error_rate"
max = 0.02
"""

_WRONG_VALUES: list[tuple[str, Any]] = [
    ("string", "12"),
    ("list", []),
    ("object", {}),
    ("null", None),
    ("true", True),
    ("false", False),
    ("negative", -1),
    ("fraction", 2.5),
    ("huge", 10**30),
    ("negzero-rate", -0.5),
]
_NUMERIC_LITERALS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]


def _literal(doc: dict[str, Any], key: str, literal: str) -> bytes:
    """``doc`` as JSON with ``key``'s value replaced by a raw literal (NaN, 1e400, ...)."""
    marker = "__LITERAL__"
    text = json.dumps({**doc, key: marker})
    return text.replace(json.dumps(marker), literal).encode()


def _generic(category: str, valid: bytes) -> list[BadCase]:
    """Byte-level damage that applies to any JSON file."""
    text = valid.decode()
    cases = [
        BadCase(f"{category}-empty", category, b""),
        BadCase(f"{category}-blank", category, b"  \n\t\n"),
        BadCase(f"{category}-bom", category, b"\xef\xbb\xbf" + valid),
        BadCase(f"{category}-utf16", category, text.encode("utf-16")),
        BadCase(f"{category}-latin1", category, valid.replace(b'"', b'"\xe4', 1)),
        BadCase(f"{category}-nonutf8-tail", category, valid + b"\xff\xfe"),
        BadCase(f"{category}-folder", category, FOLDER),
        BadCase(f"{category}-symlink-loop", category, LOOP),
        BadCase(f"{category}-nested-list", category, b"[" * 200_000 + b"]" * 200_000),
        BadCase(
            f"{category}-nested-object",
            category,
            b'{"x":' * 50_000 + b"1" + b"}" * 50_000,
        ),
        BadCase(f"{category}-unclosed-nesting", category, b"[" * 100_000),
        # A bare list is a valid (empty) blocklist; for every other file it is not an object.
        BadCase(f"{category}-top-list", category, b"[]", invalid=category != "blocklist"),
        BadCase(f"{category}-top-string", category, b'"hello"'),
        BadCase(f"{category}-top-number", category, b"42"),
        BadCase(f"{category}-top-null", category, b"null"),
        BadCase(f"{category}-top-true", category, b"true"),
        BadCase(f"{category}-nul-bytes", category, b"\x00" * 64),
        BadCase(f"{category}-trailing-junk", category, valid + b"{}"),
        BadCase(f"{category}-two-docs", category, valid + valid),
        BadCase(f"{category}-single-quotes", category, text.replace('"', "'").encode()),
        BadCase(f"{category}-comment", category, b"// note\n" + valid),
        BadCase(f"{category}-big", category, BIG),
    ]
    for index, cut in enumerate(sorted({1, len(valid) // 4, len(valid) // 2, len(valid) - 2})):
        cases.append(BadCase(f"{category}-truncated-{index}", category, valid[:cut]))
    return cases


def _dupe(doc: dict[str, Any], key: str, value: Any) -> bytes:
    body = json.dumps(doc)[:-1]
    return f"{body}, {json.dumps(key)}: {json.dumps(value)}}}".encode()


def _junk(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value: the generated half of the campaign."""
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return rng.choice(
            [
                None,
                True,
                False,
                rng.randint(-(10**20), 10**20),
                rng.uniform(-1e6, 1e6),
                rng.choice(["", "x", "0.5", "NaN", "äöü", "\u202e", "\x00", "a" * 5000]),
                10 ** rng.randint(15, 400),
                -rng.random(),
            ]
        )
    if roll < 0.75:
        return [_junk(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["a", "", "tenant", "x y"]): _junk(rng, depth + 1) for _ in range(3)}


def _valid_kpi_value(name: str, value: Any) -> bool:
    """The contract's rule for one KPI number, written out here independently of the models."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        number = float(value)
    except OverflowError:
        return False
    if not math.isfinite(number) or number < 0:
        return False
    if name == "error_rate":
        return number <= 1
    return float(number).is_integer()


def _invalid_junk(rng: random.Random, valid: Callable[[Any], bool]) -> Any:
    while True:
        value = _junk(rng)
        if not valid(value):
            return value


def kpi_cases(rng: random.Random) -> list[BadCase]:
    base = good_kpis()
    cases = _generic("kpi", dump(base))
    numeric = ["notices_sent", "error_rate", "hard_bounces", "dlq_depth", "retry_depth"]
    for name in numeric:
        for literal in _NUMERIC_LITERALS:
            cases.append(BadCase(f"kpi-{name}-{literal}", "kpi", _literal(base, name, literal)))
        for label, value in _WRONG_VALUES:
            if label == "huge" and name != "hard_bounces" and name != "error_rate":
                continue  # a huge count is valid (and would BACKOUT); bounces > sent is not
            if label == "negzero-rate" and name != "error_rate":
                continue
            if label == "fraction" and name == "error_rate":
                value = 1.5
            cases.append(BadCase(f"kpi-{name}-{label}", "kpi", dump({**base, name: value})))
        missing = {k: v for k, v in base.items() if k != name}
        cases.append(BadCase(f"kpi-{name}-missing", "kpi", dump(missing)))
        cases.append(BadCase(f"kpi-{name}-duplicate", "kpi", _dupe(base, name, 0)))
    for name in ("errors", "soft_bounces"):
        cases.append(BadCase(f"kpi-{name}-negative", "kpi", dump({**base, name: -3})))
        cases.append(BadCase(f"kpi-{name}-string", "kpi", dump({**base, name: "3"})))
    cases += [
        BadCase("kpi-tenant-other", "kpi", dump({**base, "tenant": "beta"})),
        BadCase("kpi-tenant-number", "kpi", dump({**base, "tenant": 7})),
        BadCase("kpi-date-other", "kpi", dump({**base, "date": "2026-11-25"})),
        BadCase("kpi-date-garbage", "kpi", dump({**base, "date": "yesterday"})),
        BadCase("kpi-bounces-over-sent", "kpi", dump({**base, "hard_bounces": 1841})),
        BadCase("kpi-rate-just-over", "kpi", dump({**base, "error_rate": 1.0000001})),
        BadCase(
            "kpi-huge-sent-valid", "kpi", dump({**base, "notices_sent": 10**40}), invalid=False
        ),
        BadCase("kpi-extra-keys-valid", "kpi", dump({**base, "note": {"a": [1]}}), invalid=False),
    ]
    for index in range(size_of_junk(40)):
        doc = dict(base)
        for name in rng.sample(numeric, 2):
            doc[name] = _invalid_junk(rng, lambda v, n=name: _valid_kpi_value(n, v))
        cases.append(BadCase(f"kpi-junk-{index}", "kpi", dump(doc)))
    return cases


def blocklist_cases(rng: random.Random) -> list[BadCase]:
    base = good_blocklist()
    cases = _generic("blocklist", dump(base))
    entry = base["entries"][0]
    for label, value in [
        ("entries-string", "x"),
        ("entries-object", {}),
        ("entries-null", None),
        ("entries-number", 3),
    ]:
        cases.append(BadCase(f"blocklist-{label}", "blocklist", dump({"entries": value})))
    for label, bad in [
        ("entry-string", "someone@example.org"),
        ("entry-null", None),
        ("entry-list", [1, 2]),
        ("reason-number", {**entry, "reason": 5}),
        ("reason-missing", {k: v for k, v in entry.items() if k != "reason"}),
        ("added-missing", {"reason": "hard_bounce"}),
        ("added-garbage", {**entry, "added_at": "last tuesday"}),
        ("added-number", {**entry, "added_at": 1732600000}),
        ("added-null", {**entry, "added_at": None}),
        ("added-month-13", {**entry, "added_at": "2026-13-01T00:00:00"}),
        ("added-list", {**entry, "added_at": []}),
        ("added-bool", {**entry, "added_at": True}),
    ]:
        cases.append(BadCase(f"blocklist-{label}", "blocklist", dump({"entries": [bad]})))
    cases.append(BadCase("blocklist-dup-entries", "blocklist", _dupe(base, "entries", [])))
    cases.append(BadCase("blocklist-no-entries-key", "blocklist", dump({"items": []})))
    cases.append(
        BadCase("blocklist-bare-list-valid", "blocklist", dump(base["entries"]), invalid=False)
    )
    for index in range(size_of_junk(20)):
        doc = {"entries": [{**entry, "added_at": _junk(rng)}, _junk(rng)]}
        cases.append(BadCase(f"blocklist-junk-{index}", "blocklist", dump(doc)))
    return cases


def _maybe_valid_state_value(value: Any) -> bool:
    return value in (10, 25, 50, 100, 1, "acme", [])


def state_cases(rng: random.Random) -> list[BadCase]:
    base = state_doc()
    cases = _generic("state", dump(base))
    for name, values in {
        "quota": [33, -1, 101, "25", True, None, 25.5, 10**30],
        "kill_switch": ["false", 0, None, []],
        "serial": [-1, 1.5, "0", None],
        "tenant": ["beta", "ACME", "all", 5, "", "../acme"],
        "schema_version": [2, "1", None],
        "history": [{}, [1], [{}], "none", [{"serial": 1}]],
        "review": ["yes", 1, {"by": ""}],
        "updated_at": ["now", 5, "2026-11-26T07:30:00"],
        "last_decision_id": ["abc", 5],
    }.items():
        for index, value in enumerate(values):
            cases.append(BadCase(f"state-{name}-{index}", "state", dump({**base, name: value})))
    cases.append(BadCase("state-extra-key", "state", dump({**base, "owner": "x"})))
    cases.append(BadCase("state-missing-tenant", "state", dump({"quota": 25})))
    cases.append(BadCase("state-quota-nan", "state", _literal(base, "quota", "NaN")))
    cases.append(BadCase("state-dup-quota", "state", _dupe(base, "quota", 100)))
    for index in range(size_of_junk(20)):
        # Only keys where a random value is never valid: kill_switch, serial, review ... may be.
        key = rng.choice(["quota", "tenant", "schema_version", "history"])
        doc = {**base, key: _invalid_junk(rng, _maybe_valid_state_value)}
        cases.append(BadCase(f"state-junk-{index}", "state", dump(doc)))
    return cases


def decision_cases(rng: random.Random) -> list[BadCase]:
    base = decision_doc(created_at=None)
    cases = _generic("decision", dump(base))
    for name, values in {
        "decision": ["GO", "go_50", "ROLLBACK", None, 50],
        "decision_id": ["abc", None, "G" * 64],
        "tenant": ["beta", "ACME", "all", None],
        "date": ["2026-02-30", "tomorrow", None],
        "created_at": ["2026-11-26T07:30:00", "now", None, 5],
        "trace_id": ["x", None, "A" * 32],
        "steps": ["10,25", None, [10, "x"]],
        "base": [None, {}, {"quota": "25", "kill_switch": False, "serial": 0, "review": None}],
        "target": [None, {"quota": 50}, {"quota": "50", "kill_switch": False}],
        "kill_switch_recommended": ["no", None],
        "reasons": ["x", None, [1]],
        "schema_version": [2, None],
    }.items():
        for index, value in enumerate(values):
            doc = {**base, name: value}
            cases.append(BadCase(f"decision-{name}-{index}", "decision", dump(doc)))
    cases.append(BadCase("decision-extra-key", "decision", dump({**base, "force": True})))
    cases.append(BadCase("decision-dup-target", "decision", _dupe(base, "decision", "GO_100")))
    cases.append(BadCase("decision-created-nan", "decision", _literal(base, "created_at", "NaN")))
    # Well-formed but inconsistent: the name, the target and the base must agree.
    cases += [
        BadCase(
            "decision-go-skips-steps",
            "decision",
            dump({**base, "decision": "GO_100", "target": {"quota": 100, "kill_switch": False}}),
        ),
        BadCase(
            "decision-go-target-mismatch",
            "decision",
            dump({**base, "target": {"quota": 100, "kill_switch": False}}),
        ),
        BadCase(
            "decision-go-kill-on",
            "decision",
            dump({**base, "target": {"quota": 50, "kill_switch": True}}),
        ),
        BadCase(
            "decision-go-off-ladder",
            "decision",
            dump({**base, "decision": "GO_75", "target": {"quota": 75, "kill_switch": False}}),
        ),
        BadCase(
            "decision-go-backwards",
            "decision",
            dump({**base, "decision": "GO_10", "target": {"quota": 10, "kill_switch": False}}),
        ),
    ]
    # Keys where a random value is never valid (a date or time may parse from a number).
    keys = ["decision", "decision_id", "trace_id", "base", "target", "schema_version", "tenant"]
    for index in range(size_of_junk(20)):
        key = rng.choice(keys)
        doc = {**base, key: _invalid_junk(rng, lambda v, k=key: v == base[k] or v == "acme")}
        cases.append(BadCase(f"decision-junk-{index}", "decision", dump(doc)))
    return cases


def gates_cases() -> list[BadCase]:
    cases = [
        BadCase("gates-empty-valid", "gates", b"", invalid=False),
        BadCase("gates-bom", "gates", b"\xef\xbb\xbf" + GOOD_GATES),
        BadCase("gates-nonutf8", "gates", GOOD_GATES.replace(b"error_rate", b"err\xffor", 1)),
        BadCase("gates-truncated", "gates", GOOD_GATES[:40]),
        BadCase("gates-folder", "gates", FOLDER),
        BadCase("gates-big", "gates", BIG),
        BadCase("gates-json", "gates", b'{"gates": {}}'),
        BadCase("gates-dup-key", "gates", GOOD_GATES + b"max = 0.03\n"),
        BadCase("gates-dup-table", "gates", GOOD_GATES + b"[gates.error_rate]\nmax = 0.1\n"),
        BadCase("gates-deep", "gates", b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n"),
        BadCase("gates-nul", "gates", b"\x00" * 32),
    ]
    for index, body in enumerate(
        [
            "[gates.error_rate]\nmax = nan\n",
            "[gates.error_rate]\nmax = inf\n",
            "[gates.error_rate]\nmax = -0.1\n",
            "[gates.error_rate]\nmax = 3\n",
            "[gates.error_rate]\nmax = 1e400\n",
            '[gates.error_rate]\nmax = "0.02"\n',
            "[gates.error_rate]\nmax = true\n",
            "[gates.error_rate]\nmaximum = 0.02\n",
            "[gates.dlq_depth]\nmax = -5\n",
            "[gates.dlq_depth]\nbackout = nan\n",
            "[gates.x]\nmetric = \"__import__('os').system('true')\"\nmax = 1\n",
            '[gates.x]\nmetric = "error_rate * 2"\nmax = 1\n',
            '[gates.x]\nmetric = "error_rate"\n',
            '[gates.x]\nmetric = "error_rate"\nmax = 1\nmin = 0\n',
            '[gates.error_rate]\nenabled = "no"\n',
            "[canary]\nsteps = []\n",
            "[canary]\nsteps = [10, 5]\n",
            "[canary]\nsteps = [0, 100]\n",
            "[canary]\nsteps = [10, 25, 25]\n",
            "[canary]\nsteps = [10, 250]\n",
            '[canary]\nsteps = ["10"]\n',
            "[canary]\nbackout_factor = 0.5\n",
            "[canary]\nbackout_factor = nan\n",
            "[canary]\nspeed = 1\n",
            "[tenants.ACME.gates.error_rate]\nmax = 0.03\n",
            '[tenants."../x".gates.error_rate]\nmax = 0.03\n',
            "[tenants.acme.gates.error_rate]\nmax = nan\n",
            "[tenants.acme.gates.nope]\nmax = 1\n",
            "[tenants.acme]\ncolour = 1\n",
            "gates = 5\n",
            "[gates]\nerror_rate = 5\n",
        ]
    ):
        cases.append(BadCase(f"gates-field-{index}", "gates", body.encode()))
    return cases


def env_cases() -> list[BadCase]:
    cases: list[BadCase] = []
    bad: dict[str, list[str]] = {
        "CANARY_THRESHOLD_ERROR_RATE": ["abc", "nan", "inf", "-inf", "-0.01", "3", "1e400", ""],
        "CANARY_THRESHOLD_DLQ_DEPTH": ["-5", "NaN", "Infinity", "1e999", "ten", "0x10", "--1"],
        "CANARY_THRESHOLD_ACME_DLQ_DEPTH": ["-1", "nan", "x"],
        "CANARY_THRESHOLD_ACME_HARD_BOUNCE_RATE": ["2", "-inf"],
        "CANARY_THRESHOLD_MIN_VOLUME": ["-3", "inf"],
        "CANARY_THRESHOLD_NOPE": ["1"],
        "CANARY_THRESHOLD_ACME_NOPE": ["1"],
        "CANARY_THRESHOLD_": ["1"],
        "CANARY_BACKOUT_FACTOR": ["0.5", "nan", "inf", "-1", "abc", ""],
        "CANARY_TRACE_ID": ["x", "A" * 32, "0" * 31, "0" * 33, "g" * 32, "0" * 32 + "\n"],
    }
    for name, values in bad.items():
        for index, value in enumerate(values):
            cases.append(BadCase(f"env-{name}-{index}", "env", env={name: value}))
    cases.append(
        BadCase("env-root-missing", "env", env={"CANARY_ROOT": "no/such/root"}, options={})
    )
    cases.append(
        BadCase("env-odd-valid", "env", env={"CANARY_THRESHOLD_DLQ_DEPTH": " 7 "}, invalid=False)
    )
    return cases


def option_cases() -> list[BadCase]:
    cases: list[BadCase] = []
    dates = ["2026-02-30", "26-11-2026", "2026-11-26T07:30", "\uff12\uff10\uff12\uff16-11-26", "x"]
    for index, value in enumerate(dates):
        options = {"decide": ["--date", value], "cycle": ["--date", value]}
        options["pytest"] = ["--canary-date", value]
        cases.append(BadCase(f"opt-date-{index}", "options", options=options))
    for index, value in enumerate(["nan", "inf", "-1", "0", "1e308", "abc", "-inf"]):
        cases.append(
            BadCase(f"opt-max-age-{index}", "options", options={"rollout": ["--max-age", value]})
        )
    for index, value in enumerate(["nan", "-1", "abc", "inf"]):
        cases.append(
            BadCase(
                f"opt-lock-timeout-{index}",
                "options",
                options={"rollout": ["--lock-timeout", value]},
            )
        )
    for index, value in enumerate(["", "no/such/dir", "<file>", "<kpi>"]):
        options = {"decide": ["--root", value], "rollout": ["--root", value]}
        options["pytest"] = ["--canary-root", value]
        cases.append(BadCase(f"opt-root-{index}", "options", options=options))
    for index, value in enumerate(["no/such.toml", "<kpi>", "<empty-folder>", ""]):
        options = {"decide": ["--gates", value], "cycle": ["--gates", value]}
        options["pytest"] = ["--canary-gates", value]
        # An empty --gates is no --gates: the default gates, a valid run.
        case = BadCase(f"opt-gates-{index}", "options", options=options, invalid=bool(value))
        cases.append(case)
    for index, value in enumerate(["no/such.json", "<folder>", "<kpi>", "", "<big>"]):
        options = {"rollout": ["--decision-file", value]}
        # An empty --decision-file is none: the newest decision (a valid GO) is applied.
        cases.append(
            BadCase(f"opt-decision-file-{index}", "options", options=options, invalid=bool(value))
        )
    for index, (by, note) in enumerate(
        [("", "x"), ("a\nb", "x"), ("x", ""), ("x", "a" * 10_000), ("x\x00", "y"), ("x", "\x1b[2J")]
    ):
        cases.append(
            BadCase(
                f"opt-review-{index}", "options", options={"review": ["--by", by, "--note", note]}
            )
        )
    for index, value in enumerate(["no/such/file.json", "<big>", "<folder-of-junk>"]):
        cases.append(BadCase(f"opt-validate-{index}", "options", options={"validate": [value]}))
    cases.append(
        BadCase("opt-pytest-no-tenant", "options", options={"pytest-bare": ["--canary-rollout"]})
    )
    cases.append(BadCase("opt-unknown-flag", "options", options={"decide": ["--frobnicate"]}))
    return cases


def tenant_cases() -> list[BadCase]:
    ids = [
        "", "ACME", "acme\n", "acme ", " acme", "../acme", "..", ".", "a/b", "acme\x00x",
        "\u0430cme", "\uff41\uff43\uff4d\uff45", "all", "-acme", "_acme", "a" * 64, "acme;true",
        "unknown", "acme/", "ac me", "acme\u200b", "ACME".lower() + "\u0301", "$(id)", "*",
    ]  # fmt: skip
    # "all" is valid for decide, cycle and pytest (every tenant), a usage error elsewhere.
    return [
        BadCase(f"tenant-{i}", "tenant", tenant=t, invalid=t != "all") for i, t in enumerate(ids)
    ]


def size_of_junk(full: int) -> int:
    from _reliability import FULL

    return full if FULL else max(2, full // 10)


def all_cases(seed: int = 20261126) -> list[BadCase]:
    rng = random.Random(seed)
    return [
        *kpi_cases(rng),
        *blocklist_cases(rng),
        *state_cases(rng),
        *decision_cases(rng),
        *gates_cases(),
        *env_cases(),
        *option_cases(),
        *tenant_cases(),
    ]


_ = (KPI_DATE, TENANT)
