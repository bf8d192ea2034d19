"""``canary dns-check``: check and log the sender's SPF, DKIM and DMARC records (never gating).

It exits 0 whatever it finds unless ``--strict`` (then 1 when a check fails), and 2 on a usage
error, shown as one line. The checks and the report are :mod:`pytest_canary.dns.check`'s.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
from typing import Any

from pytest_canary.cli import exit_codes, options
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.dns.check import (
    SENDER_FILE,
    check_tenant,
    read_sender_config,
    summary,
    target,
    validate_domain,
    validate_include,
    validate_selector,
    write_report,
)
from pytest_canary.render.console import echo_lines

# dnspython and pydantic (records, store, jsonfile) are imported where they are used: `canary`
# builds every command's parser on each call, and that must stay cheap.

DEFAULT_TIMEOUT = 3.0


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="check the sender's SPF, DKIM and DMARC records (log-only)",
        description=(
            "Check a tenant's sending domain: one SPF record (with the expected includes), a DKIM "
            "key per selector, a DMARC record with a policy and a rua mailbox. Writes "
            "ops/dns_check_<date>.json and .md. Without --tenant (or with 'all'): every tenant "
            "with an ops/sender.json."
        ),
    )
    _add_arguments(parser)
    parser.set_defaults(handler=run)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
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
    options.add_root(parser)
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
    from pytest_canary.core.tenants import validate_tenant_id
    from pytest_canary.dns.records import DnsResolver
    from pytest_canary.store.layout import TenantPaths, list_tenants

    timeout = parse_timeout(args.timeout)
    address = parse_resolver(args.resolver) if args.resolver else None
    selectors = [validate_selector(s) for s in args.dkim_selectors or []]
    includes = [validate_include(i) for i in args.spf_includes or []]
    domain = validate_domain(args.domain) if args.domain else None
    root = options.root(args)
    if args.tenant in (None, "all"):
        if domain is not None:
            raise CanaryUsageError("--domain needs one --tenant (it is that tenant's domain)")
        every = [TenantPaths.open(root, name) for name in list_tenants(root)]
        tenants = [p.tenant for p in every if (p.ops_dir / SENDER_FILE).exists()]
        if not tenants:
            raise CanaryUsageError(
                f"no --tenant given and no tenant under {root} has ops/{SENDER_FILE};"
                " give --tenant and --domain, or see docs/dns-check.md"
            )
    else:
        tenants = [validate_tenant_id(args.tenant)]
    resolver = DnsResolver(address, timeout)
    failed = False
    for tenant in tenants:
        paths = TenantPaths.open(root, tenant)
        targets = target(paths, read_sender_config(paths), domain, selectors, includes)
        report = check_tenant(tenant, *targets, resolver)
        written = None if args.dry_run else write_report(paths, report)
        echo_lines(summary(report, written).split("\n"))
        failed = failed or report.status == "fail"
    return exit_codes.ATTENTION if args.strict and failed else exit_codes.OK


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
