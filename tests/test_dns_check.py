"""canary dns-check against a real DNS server on 127.0.0.1, started here (no outside network)."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_canary import cli
from pytest_canary.cli import dns_check as dns_check_cli
from pytest_canary.core.errors import CanaryUsageError
from pytest_canary.dns import check as dns_check
from pytest_canary.dns import records as sender_dns
from pytest_canary.dns.records import TxtLookup, check_dkim, check_dmarc, check_spf

REPO = Path(__file__).resolve().parent.parent
KEY = base64.b64encode(bytes(range(256)) + bytes(38)).decode()  # 294 bytes: a 2048-bit RSA key
SERVFAIL = "SERVFAIL"
GOOD: dict[str, list[str] | str] = {
    "acme.example": ["v=spf1 include:_spf.mailer.example -all", "site-verification=abc"],
    "s1._domainkey.acme.example": [f"v=DKIM1; k=rsa; p={KEY}"],
    "_dmarc.acme.example": ["v=DMARC1; p=reject; rua=mailto:dmarc@acme.example"],
}


class DnsServer:
    """A UDP DNS server answering TXT queries from ``zone``; a name not in it is NXDOMAIN."""

    def __init__(self) -> None:
        self.zone: dict[str, list[str] | str] = {}
        self.queries: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            self._sock.sendto(self._answer(query).to_wire(), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        self.queries.append(name)
        entry = self.zone.get(name)
        if entry is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif entry == SERVFAIL:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif question.rdtype == dns.rdatatype.TXT and entry:
            rrset = response.find_rrset(
                response.answer,
                question.name,
                dns.rdataclass.IN,
                dns.rdatatype.TXT,
                create=True,
            )
            for text in entry:
                raw = text.encode()
                # Long records come in 255-byte strings, as real zones publish DKIM keys.
                chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
                rdata = dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)
                rrset.add(rdata, ttl=300)
        return response

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()


@pytest.fixture
def server() -> Iterator[DnsServer]:
    running = DnsServer()
    running.zone.update(GOOD)
    yield running
    running.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root" / "acme").mkdir(parents=True)
    return tmp_path / "root"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _run(root: Path, resolver: str, *extra: str, tenant: str = "acme") -> int:
    args = ["--tenant", tenant, "--root", str(root), "--resolver", resolver, "--timeout", "1"]
    return cli.main(["dns-check", *args, *extra])


def _check(root: Path, server: DnsServer, *extra: str) -> tuple[int, dict[str, dict[str, str]]]:
    """Check acme.example with selector s1; returns the exit code and findings by check name."""
    code = _run(root, server.address, "--domain", "acme.example", "--dkim-selector", "s1", *extra)
    report = json.loads(_report(root).read_text("utf-8"))
    return code, {f["check"]: f for f in report["findings"]}


def _report(root: Path, tenant: str = "acme", suffix: str = "json") -> Path:
    today = dt.datetime.now(ZoneInfo("Europe/Berlin")).date().isoformat()
    return root / tenant / "ops" / f"dns_check_{today}.{suffix}"


def test_all_good_records_pass_and_both_reports_are_written(
    root: Path, server: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, found = _check(root, server, "--spf-include", "_spf.mailer.example", "--strict")
    assert code == 0
    assert {name: f["status"] for name, f in found.items()} == {
        "spf": "ok",
        "dkim": "ok",
        "dmarc": "ok",
    }
    assert found["dkim"]["detail"] == "k=rsa, p= key of 294 bytes"
    report = json.loads(_report(root).read_text("utf-8"))
    assert report["status"] == "ok"
    assert report["resolver"] == server.address
    markdown = _report(root, suffix="md").read_text("utf-8")
    assert markdown.startswith("# Sender DNS check: acme (acme.example): OK")
    assert "| DMARC | `_dmarc.acme.example` | OK |" in markdown
    assert "dns-check acme acme.example" in capsys.readouterr().out
    assert sorted(p.name for p in (root / "acme" / "ops").iterdir()) == [
        _report(root).name,
        _report(root, suffix="md").name,
    ]


def test_missing_spf_record_fails(root: Path, server: DnsServer) -> None:
    server.zone["acme.example"] = ["site-verification=abc"]
    code, found = _check(root, server)
    assert code == 0  # log-only without --strict
    assert found["spf"]["status"] == "fail"
    assert "no v=spf1 TXT record at acme.example" in found["spf"]["detail"]


def test_two_spf_records_fail(root: Path, server: DnsServer) -> None:
    server.zone["acme.example"] = ["v=spf1 -all", "v=spf1 include:_spf.mailer.example -all"]
    _, found = _check(root, server)
    assert found["spf"]["status"] == "fail"
    assert "2 v=spf1 records" in found["spf"]["detail"]
    assert len(found["spf"]["records"]) == 2


def test_missing_expected_include_fails(root: Path, server: DnsServer) -> None:
    _, found = _check(root, server, "--spf-include", "_spf.other.example")
    assert found["spf"]["status"] == "fail"
    assert "expected include:_spf.other.example" in found["spf"]["detail"]


def test_spf_that_allows_everyone_warns(root: Path, server: DnsServer) -> None:
    server.zone["acme.example"] = ["v=spf1 include:_spf.mailer.example +all"]
    code, found = _check(root, server, "--strict")
    assert found["spf"]["status"] == "warn"
    assert code == 0  # a warning never fails, not even with --strict


def test_missing_dkim_selector_fails(root: Path, server: DnsServer) -> None:
    code = _run(
        root, server.address, "--domain", "acme.example", "--dkim-selector", "s1",
        "--dkim-selector", "s2",
    )  # fmt: skip
    assert code == 0
    findings = json.loads(_report(root).read_text("utf-8"))["findings"]
    dkim = {f["selector"]: f for f in findings if f["check"] == "dkim"}
    assert dkim["s1"]["status"] == "ok"
    assert dkim["s2"]["status"] == "fail"
    assert "s2._domainkey.acme.example does not exist (NXDOMAIN)" in dkim["s2"]["detail"]


def test_revoked_dkim_key_with_empty_p_fails(root: Path, server: DnsServer) -> None:
    server.zone["s1._domainkey.acme.example"] = ["v=DKIM1; k=rsa; p="]
    _, found = _check(root, server)
    assert found["dkim"]["status"] == "fail"
    assert "empty p=" in found["dkim"]["detail"]


def test_dmarc_without_rua_fails(root: Path, server: DnsServer) -> None:
    server.zone["_dmarc.acme.example"] = ["v=DMARC1; p=quarantine"]
    code, found = _check(root, server, "--strict")
    assert found["dmarc"]["status"] == "fail"
    assert "no rua= mailbox" in found["dmarc"]["detail"]
    assert code == 1


def test_dmarc_policy_none_warns(root: Path, server: DnsServer) -> None:
    server.zone["_dmarc.acme.example"] = ["v=DMARC1; p=none; rua=mailto:d@acme.example"]
    _, found = _check(root, server)
    assert found["dmarc"]["status"] == "warn"


def test_unknown_domain_is_three_findings_not_a_crash(root: Path, server: DnsServer) -> None:
    server.zone.clear()
    code, found = _check(root, server)
    assert code == 0
    assert {f["status"] for f in found.values()} == {"fail"}
    assert all("NXDOMAIN" in f["detail"] for f in found.values())
    assert _run(root, server.address, "--domain", "acme.example", "--strict") == 1


def test_resolver_failure_is_a_finding(root: Path, server: DnsServer) -> None:
    server.zone["_dmarc.acme.example"] = SERVFAIL
    _, found = _check(root, server)
    assert found["dmarc"]["status"] == "fail"
    assert found["dmarc"]["detail"] == (
        f"no DMARC record: _dmarc.acme.example was not answered: {server.address} failed"
        " (answered SERVFAIL)"
    )


def test_port_where_nothing_listens_is_a_finding(root: Path) -> None:
    resolver = f"127.0.0.1:{_free_udp_port()}"
    started = time.monotonic()
    code = cli.main(
        ["dns-check", "--tenant", "acme", "--root", str(root), "--resolver", resolver,
         "--timeout", "0.3", "--domain", "acme.example", "--dkim-selector", "s1"]
    )  # fmt: skip
    assert time.monotonic() - started < 5
    assert code == 0
    report = json.loads(_report(root).read_text("utf-8"))
    assert [f["status"] for f in report["findings"]] == ["fail", "fail", "fail"]
    assert all(resolver in f["detail"] for f in report["findings"])


def test_resolver_that_never_answers_times_out_as_a_finding(root: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        resolver = f"127.0.0.1:{silent.getsockname()[1]}"
        code = cli.main(
            ["dns-check", "--tenant", "acme", "--root", str(root), "--resolver", resolver,
             "--timeout", "0.2", "--domain", "acme.example", "--strict"]
        )  # fmt: skip
    assert code == 1
    report = json.loads(_report(root).read_text("utf-8"))
    failed = [f for f in report["findings"] if f["status"] == "fail"]
    assert [f["check"] for f in failed] == ["spf", "dmarc"]
    assert all(f"got no answer within 0.2 s from {resolver}" in f["detail"] for f in failed)


def test_no_selector_is_a_warning_not_a_failure(root: Path, server: DnsServer) -> None:
    assert _run(root, server.address, "--domain", "acme.example", "--strict") == 0
    dkim = json.loads(_report(root).read_text("utf-8"))["findings"][1]
    assert (dkim["check"], dkim["status"]) == ("dkim", "warn")


def test_sender_json_supplies_domain_selectors_and_includes(root: Path, server: DnsServer) -> None:
    ops = root / "acme" / "ops"
    ops.mkdir()
    (ops / "sender.json").write_text(
        json.dumps({"domain": "acme.example", "dkim_selectors": ["s1"],
                    "spf_includes": ["_spf.mailer.example"]})
    )  # fmt: skip
    (root / "beta").mkdir()  # no sender.json: not checked when every tenant is
    assert (
        cli.main(["dns-check", "--root", str(root), "--resolver", server.address, "--strict"]) == 0
    )
    report = json.loads(_report(root).read_text("utf-8"))
    assert report["dkim_selectors"] == ["s1"]
    assert report["spf_includes"] == ["_spf.mailer.example"]
    assert report["status"] == "ok"
    assert not (root / "beta" / "ops").exists()
    # A flag replaces its key of the file.
    assert _run(root, server.address, "--spf-include", "_spf.other.example", "--strict") == 1


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--tenant", "Acme", "--domain", "acme.example"], "invalid tenant id"),
        (["--tenant", "nobody", "--domain", "acme.example"], "unknown tenant 'nobody'"),
        (["--tenant", "acme", "--domain", "not a domain"], "domain 'not a domain'"),
        (["--tenant", "acme", "--domain", "10.0.0.1"], "domain '10.0.0.1'"),
        (["--tenant", "acme"], "no --domain for tenant 'acme'"),
        (["--domain", "acme.example"], "--domain needs one --tenant"),
        ([], "no tenant under"),
        (["--tenant", "acme", "--domain", "a.example", "--resolver", "dns.google"], "--resolver"),
        (["--tenant", "acme", "--domain", "a.example", "--resolver", "1.2.3.4:0"], "--resolver"),
        (["--tenant", "acme", "--domain", "a.example", "--resolver", "[::1]x"], "--resolver"),
        (["--tenant", "acme", "--domain", "a.example", "--timeout", "0"], "--timeout"),
        (["--tenant", "acme", "--domain", "a.example", "--timeout", "nan"], "--timeout"),
        (["--tenant", "acme", "--domain", "a.example", "--dkim-selector", "a b"], "selector"),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_write_nothing(
    root: Path, argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["dns-check", "--root", str(root), *argv]) == 2
    err = capsys.readouterr().err
    assert words in err
    assert err.count("\n") == 1
    assert sorted(p.name for p in root.rglob("*")) == ["acme"]


def test_bad_sender_json_is_a_usage_error_naming_the_file(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / "acme" / "ops").mkdir()
    (root / "acme" / "ops" / "sender.json").write_text('{"domain": "acme.example", "dkim": []}')
    assert cli.main(["dns-check", "--root", str(root), "--tenant", "acme"]) == 2
    assert "sender.json: field dkim" in capsys.readouterr().err


def test_dry_run_prints_but_writes_nothing(
    root: Path, server: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(root, server.address, "--domain", "acme.example", "--dry-run") == 0
    assert "not written (dry run)" in capsys.readouterr().out
    assert not (root / "acme" / "ops").exists()


def test_missing_system_resolver_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_configuration() -> None:
        raise sender_dns.dns.resolver.NoResolverConfiguration("no nameservers")

    monkeypatch.setattr(sender_dns.dns.resolver, "Resolver", no_configuration)
    lookup = sender_dns.DnsResolver(None, 1.0).txt("acme.example")
    assert lookup.problem is not None
    assert "no system resolver configured" in lookup.problem


def test_playbook_shim_runs_from_the_repo_root(root: Path, server: DnsServer) -> None:
    pytest.importorskip("pytest_canary.cli")
    shim = [sys.executable, "tools/operate/sender_dns_check.py"]
    common = ["--root", str(root), "--resolver", server.address, "--domain", "acme.example"]
    done = subprocess.run(
        [*shim, "--tenant", "acme", *common], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "dns-check acme acme.example" in done.stdout
    assert _report(root).exists()
    bad = subprocess.run([*shim, "--tenant", "ACME", *common], cwd=REPO, capture_output=True)
    assert bad.returncode == 2


# --- the judging functions take any text a zone may hold ----------------------------------------

texts = st.lists(st.text(max_size=80), max_size=4).map(tuple)


@given(records=texts, problem=st.none() | st.text(max_size=20))
def test_judging_any_records_gives_one_finding_and_never_raises(
    records: tuple[str, ...], problem: str | None
) -> None:
    lookup = TxtLookup("x.example", records, problem)
    for finding in (check_spf(lookup, ["a.example"]), check_dkim(lookup, "s"), check_dmarc(lookup)):
        assert finding.status in ("ok", "warn", "fail")
        assert finding.detail
        assert finding.detail.isprintable()


@given(text=st.text(max_size=40))
def test_option_parsers_accept_or_refuse_with_a_usage_error(text: str) -> None:
    for parse in (
        dns_check_cli.parse_resolver,
        dns_check.validate_domain,
        dns_check_cli.parse_timeout,
    ):
        with contextlib.suppress(CanaryUsageError):
            parse(text)
