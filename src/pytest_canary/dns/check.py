"""``canary dns-check``: check and log the sender's SPF, DKIM and DMARC records (never gating).

The checks live in :mod:`pytest_canary.dns.records`; this module reads the options and the
tenant's ``ops/sender.json``, runs the checks, writes ``ops/dns_check_<date>.json`` and ``.md``
atomically and prints a short summary. It exits 0 whatever it finds unless ``--strict`` (then 1
when a check fails), and 2 on a usage error, shown as one line.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.store import settings

if TYPE_CHECKING:
    from pytest_canary import store
    from pytest_canary.dns.records import DnsCheckReport, DnsResolver, SenderConfig

# dnspython and pydantic (sender_dns, store, jsonfile) are imported where they are used: `canary`
# builds every command's parser through `register` on each call, and that must stay cheap.

DEFAULT_TIMEOUT = 3.0
SENDER_FILE = "sender.json"
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_INCLUDE_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def register(subparsers: Any) -> None:
    """Add ``dns-check`` to the ``canary`` command's subparsers."""
    parser = subparsers.add_parser(
        "dns-check",
        help="check the sender's SPF, DKIM and DMARC records (log-only)",
        description=(
            "Check a tenant's sending domain: one SPF record (with the expected includes), a DKIM "
            "key per selector, a DMARC record with a policy and a rua mailbox. Writes "
            "ops/dns_check_<date>.json and .md. Without --tenant (or with 'all'): every tenant "
            "with an ops/sender.json."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", help="tenant id, or 'all' (default: all with ops/sender.json)")
    parser.add_argument("--domain", help="sending domain (default: ops/sender.json 'domain')")
    parser.add_argument(
        "--dkim-selector",
        action="append",
        dest="dkim_selectors",
        metavar="S",
        help="DKIM selector, repeatable (default: ops/sender.json 'dkim_selectors')",
    )
    parser.add_argument(
        "--spf-include",
        action="append",
        dest="spf_includes",
        metavar="DOMAIN",
        help="domain the SPF record must include, repeatable (default: ops/sender.json)",
    )
    parser.add_argument(
        "--root", help=f"canary root (default: $CANARY_ROOT, else {settings.DEFAULT_ROOT})"
    )
    parser.add_argument("--resolver", metavar="IP[:PORT]", help="resolver to ask (default: system)")
    parser.add_argument(
        "--timeout",
        default=str(DEFAULT_TIMEOUT),
        metavar="SECONDS",
        help=f"seconds to wait for each answer (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when any check fails")
    parser.add_argument("--dry-run", action="store_true", help="print only, write no report")


def run(args: argparse.Namespace) -> int:
    """The ``dns-check`` handler: 0 (1 with ``--strict`` and a failed check); 2 on usage errors."""
    try:
        return _run(args)
    except CanaryUsageError as exc:
        print(f"canary dns-check: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from pytest_canary import store
    from pytest_canary.dns.records import DnsResolver

    timeout = parse_timeout(args.timeout)
    address = parse_resolver(args.resolver) if args.resolver else None
    selectors = [validate_selector(s) for s in args.dkim_selectors or []]
    includes = [validate_include(i) for i in args.spf_includes or []]
    domain = validate_domain(args.domain) if args.domain else None
    root = _root(args.root)
    if args.tenant in (None, "all"):
        if domain is not None:
            raise CanaryUsageError("--domain needs one --tenant (it is that tenant's domain)")
        tenants = [t for t in store.list_tenants(root) if (root / t / "ops" / SENDER_FILE).exists()]
        if not tenants:
            raise CanaryUsageError(
                f"no --tenant given and no tenant under {root} has ops/{SENDER_FILE};"
                " give --tenant and --domain, or see docs/dns-check.md"
            )
    else:
        tenants = [store.validate_tenant_id(args.tenant)]
    resolver = DnsResolver(address, timeout)
    failed = False
    for tenant in tenants:
        paths = store.TenantPaths.open(root, tenant)
        target = _target(paths, read_sender_config(paths), domain, selectors, includes)
        report = check_tenant(tenant, *target, resolver)
        written = None if args.dry_run else write_report(paths, report)
        print(summary(report, written))
        failed = failed or report.status == "fail"
    return 1 if args.strict and failed else 0


def _target(
    paths: store.TenantPaths,
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


def write_report(paths: store.TenantPaths, report: DnsCheckReport) -> Path:
    """Write the JSON and the Markdown report under ``ops/``; returns the JSON's path."""
    from pytest_canary import store
    from pytest_canary.core import jsonfile

    stem = f"dns_check_{report.date.isoformat()}"
    target = paths.check(paths.ops_dir / f"{stem}.json")
    markdown = paths.check(paths.ops_dir / f"{stem}.md")
    try:
        store.write_atomic(target, jsonfile.model_bytes(report), label="dnscheck")
        store.write_atomic(markdown, render_markdown(report).encode(), label="dnscheck")
    except OSError as exc:
        raise CanaryUsageError(f"{target}: cannot be written ({exc.strerror})") from None
    return target


def render_markdown(report: DnsCheckReport) -> str:
    lines = [
        f"# Sender DNS check: {report.tenant} ({report.domain}): {report.status.upper()}",
        "",
        f"Checked {report.checked_at.isoformat()} via {report.resolver}"
        f" (timeout {report.timeout:g} s). Log-only: this never stops a rollout.",
        "",
        "| check | name | status | detail |",
        "| --- | --- | --- | --- |",
    ]
    for f in report.findings:
        detail = f.detail.replace("|", "\\|")
        lines.append(f"| {f.check.upper()} | `{f.name}` | {f.status.upper()} | {detail} |")
    return "\n".join(lines) + "\n"


def summary(report: DnsCheckReport, written: Path | None) -> str:
    counts = {s: sum(f.status == s for f in report.findings) for s in ("fail", "warn", "ok")}
    head = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines = [f"dns-check {report.tenant} {report.domain} via {report.resolver}: {head}"]
    for f in report.findings:
        lines.append(f"  {f.status.upper():4} {f.check.upper():5} {f.name}: {f.detail}")
    lines.append(f"  report: {written} (and .md)" if written else "  report: not written (dry run)")
    return "\n".join(lines)


# --- options ----------------------------------------------------------------------------------


def _root(option: str | None) -> Path:
    cwd = Path.cwd()
    return settings.resolve_root(option, os.environ, None, cwd, cwd)


def parse_timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 < value <= 60:
        raise CanaryUsageError(f"--timeout {text!r}: expected seconds, a number in (0, 60]")
    return value


def parse_resolver(text: str) -> tuple[str, int]:
    """``IP``, ``IP:PORT``, ``[IPv6]:PORT`` or a bare IPv6 address; port 53 by default."""
    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                host = ""
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        address = str(ipaddress.ip_address(host))
        number = int(port)
    except ValueError:
        address, number = "", 0
    if not address or not 0 < number < 65536:
        raise CanaryUsageError(
            f"--resolver {text!r}: expected an IP address with an optional port"
            " (127.0.0.1, 127.0.0.1:5353, [::1]:5353)"
        )
    return address, number


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


def read_sender_config(paths: store.TenantPaths) -> SenderConfig | None:
    """The tenant's ``ops/sender.json``, None when there is none; a bad one is a usage error."""
    from pydantic import ValidationError

    from pytest_canary.core import jsonfile
    from pytest_canary.dns.records import SenderConfig

    path = paths.check(paths.ops_dir / SENDER_FILE)
    if not path.exists():
        return None
    try:
        data = jsonfile.parse_json(jsonfile.read_bytes(path), str(path))
        return SenderConfig.model_validate(data)
    except jsonfile.InvalidInput as exc:
        raise CanaryUsageError(str(exc)) from None
    except ValidationError as exc:
        raise CanaryUsageError(jsonfile.validation_message(str(path), exc)) from None


def main(argv: list[str] | None = None) -> int:
    """Run ``dns-check`` on its own (the ``canary`` command calls :func:`run` instead)."""
    parser = argparse.ArgumentParser(prog="canary dns-check")
    add_arguments(parser)
    return run(parser.parse_args(argv))
