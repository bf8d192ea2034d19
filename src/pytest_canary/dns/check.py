"""One tenant's sender DNS check: its targets, the run, the report files and the summary.

The checks live in :mod:`pytest_canary.dns.records`; this module reads the tenant's
``ops/sender.json``, runs the checks, writes ``ops/dns_check_<date>.json`` and ``.md`` atomically
and words a short summary. ``canary dns-check`` (:mod:`pytest_canary.cli.dns_check`) reads the
options.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.render.text import md, md_code
from pytest_canary.store import settings

if TYPE_CHECKING:
    from pytest_canary.dns.records import DnsCheckReport, DnsResolver, SenderConfig
    from pytest_canary.store.layout import TenantPaths

# dnspython and pydantic (sender_dns, store, jsonfile) are imported where they are used: `canary`
# builds every command's parser through `register` on each call, and that must stay cheap.

SENDER_FILE = "sender.json"
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_INCLUDE_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def target(
    paths: TenantPaths,
    config: SenderConfig | None,
    domain: str | None,
    selectors: list[str],
    includes: list[str],
) -> tuple[str, list[str], list[str]]:
    """Domain, selectors and includes: each flag replaces that key of ``ops/sender.json``."""
    if config is None:
        if domain is None:
            raise CanaryUsageError(
                f"no --domain for tenant {paths.tenant!r} and no {paths.ops_dir / SENDER_FILE}"
            )
        return domain, selectors, includes
    try:
        return (
            domain or validate_domain(config.domain),
            selectors or [validate_selector(s) for s in config.dkim_selectors],
            includes or [validate_include(i) for i in config.spf_includes],
        )
    except CanaryUsageError as exc:
        raise CanaryUsageError(f"{paths.ops_dir / SENDER_FILE}: {exc}") from None


def check_tenant(
    tenant: str, domain: str, selectors: list[str], includes: list[str], resolver: DnsResolver
) -> DnsCheckReport:
    """Run every check of one tenant's domain and wrap the findings in a report."""
    from pytest_canary.dns.records import DnsCheckReport, run_checks, worst

    now = settings.now_berlin().replace(microsecond=0)
    findings = run_checks(resolver, domain, selectors, includes)
    return DnsCheckReport(
        tenant=tenant,
        domain=domain,
        date=now.date(),
        checked_at=now,
        resolver=resolver.description,
        timeout=resolver.timeout,
        dkim_selectors=selectors,
        spf_includes=includes,
        status=worst(f.status for f in findings),
        findings=findings,
    )


def write_report(paths: TenantPaths, report: DnsCheckReport) -> Path:
    """Write the JSON and the Markdown report under ``ops/``; returns the JSON's path."""
    from pytest_canary.core import jsonfile
    from pytest_canary.store.atomic import write_atomic

    target = paths.check(paths.dns_check(report.date, "json"))
    markdown = paths.check(paths.dns_check(report.date, "md"))
    try:
        write_atomic(target, jsonfile.model_bytes(report), label="dnscheck")
        write_atomic(markdown, render_markdown(report).encode(), label="dnscheck")
    except OSError as exc:
        raise CanaryUsageError(f"{target}: cannot be written ({exc.strerror})") from None
    return target


def render_markdown(report: DnsCheckReport) -> str:
    lines = [
        f"# Sender DNS check: {report.tenant} ({md(report.domain)}): {report.status.upper()}",
        "",
        f"Checked {report.checked_at.isoformat()} via {md(report.resolver)}"
        f" (timeout {report.timeout:g} s). Log-only: this never stops a rollout.",
        "",
        "| check | name | status | detail |",
        "| --- | --- | --- | --- |",
    ]
    for f in report.findings:
        name, detail = md_code(f.name).replace("|", "\\|"), md(f.detail)
        lines.append(f"| {f.check.upper()} | {name} | {f.status.upper()} | {detail} |")
    return "\n".join(lines) + "\n"


def summary(report: DnsCheckReport, written: Path | None) -> str:
    counts = {s: sum(f.status == s for f in report.findings) for s in ("fail", "warn", "ok")}
    head = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines = [f"dns-check {report.tenant} {report.domain} via {report.resolver}: {head}"]
    for f in report.findings:
        lines.append(f"  {f.status.upper():4} {f.check.upper():5} {f.name}: {f.detail}")
    lines.append(f"  report: {written} (and .md)" if written else "  report: not written (dry run)")
    return "\n".join(lines)


def _labels(text: str, what: str, pattern: re.Pattern[str], minimum: int) -> str:
    """A DNS name of at least ``minimum`` labels, IDNA-encoded and lower case, or refuse."""
    try:
        name = text.strip().rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        name = ""
    labels = name.split(".")
    if (
        len(name) > 253
        or len(labels) < minimum
        or not all(pattern.fullmatch(label) for label in labels)
        or (minimum > 1 and labels[-1].isdigit())  # an IPv4 address is no domain
    ):
        raise CanaryUsageError(f"{what} {text!r}: expected a DNS name like mail.example.com")
    return name


def validate_domain(text: str) -> str:
    return _labels(text, "domain", _LABEL, 2)


def validate_selector(text: str) -> str:
    return _labels(text, "DKIM selector", _LABEL, 1)


def validate_include(text: str) -> str:
    return _labels(text, "SPF include", _INCLUDE_LABEL, 2)


def read_sender_config(paths: TenantPaths) -> SenderConfig | None:
    """The tenant's ``ops/sender.json``, None when there is none; a bad one is a usage error."""
    from pydantic import ValidationError

    from pytest_canary.core import jsonfile
    from pytest_canary.dns.records import SenderConfig
    from pytest_canary.store.files import read_bytes

    path = paths.check(paths.ops_dir / SENDER_FILE)
    if not path.exists():
        return None
    try:
        data = jsonfile.parse_json(read_bytes(path), str(path))
        return SenderConfig.model_validate(data)
    except jsonfile.InvalidInput as exc:
        raise CanaryUsageError(str(exc)) from None
    except ValidationError as exc:
        raise CanaryUsageError(jsonfile.validation_message(str(path), exc)) from None
