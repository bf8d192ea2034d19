"""The sender's mail DNS: SPF, DKIM and DMARC records read with dnspython and judged one by one.

Lookups never raise: a timeout, NXDOMAIN, an empty answer or a resolver that is not there is a
*finding* (``fail``) with one line of detail, because the check is log-only and an operator
wants to read what is wrong, not a traceback. The judging functions are pure (a
:class:`TxtLookup` in, a :class:`Finding` out) so they can be tested without a network. The
models of ``canary dns-check``'s files (``ops/sender.json`` and the report) are at the end, so that
:mod:`pytest_canary.dns.check` needs neither dnspython nor pydantic until the command runs.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.resolver
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

CheckName = Literal["spf", "dkim", "dmarc"]
Status = Literal["ok", "warn", "fail"]
_RANK: dict[Status, int] = {"ok": 0, "warn": 1, "fail": 2}
_MIN_RSA_KEY_BYTES = 270
"""A 2048-bit RSA public key (SubjectPublicKeyInfo, DER) is 294 bytes; 1024-bit keys are 162."""


def _one_line(text: str) -> str:
    """Details go into a table row and a terminal line: no line breaks or control characters."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


class Finding(BaseModel):
    """One check of one DNS name: what was asked, what came back, and the verdict."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    check: CheckName
    name: str
    selector: str | None = None
    status: Status
    detail: Annotated[str, AfterValidator(_one_line)]
    records: list[str]


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe status (``ok`` for none)."""
    return max(statuses, key=_RANK.__getitem__, default="ok")


@dataclass(frozen=True)
class TxtLookup:
    """The TXT records at ``name`` (each record's strings joined), or why there are none."""

    name: str
    records: tuple[str, ...] = ()
    problem: str | None = None


class TxtSource(Protocol):
    def txt(self, name: str) -> TxtLookup: ...


class DnsResolver:
    """TXT lookups through one resolver (``address``) or the system's; every failure a problem."""

    def __init__(self, address: tuple[str, int] | None, timeout: float) -> None:
        self.timeout = timeout
        self._resolver: dns.resolver.Resolver | None = None
        self._setup_problem: str | None = None
        if address is None:
            try:
                self._resolver = dns.resolver.Resolver()
            except dns.exception.DNSException as exc:
                self._setup_problem = f"was not looked up: no system resolver configured ({exc})"
            self.description = "system resolver"
            if self._resolver is not None:
                self.description += f" ({', '.join(map(str, self._resolver.nameservers))})"
        else:
            host, port = address
            self._resolver = dns.resolver.Resolver(configure=False)
            self._resolver.nameservers = [host]
            self._resolver.port = port
            self.description = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if self._resolver is not None:
            self._resolver.timeout = timeout
            self._resolver.lifetime = timeout

    def txt(self, name: str) -> TxtLookup:
        if self._resolver is None:
            return TxtLookup(name, problem=self._setup_problem)
        try:
            answer = self._resolver.resolve(
                dns.name.from_text(name), "TXT", search=False, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN:
            return TxtLookup(name, problem="does not exist (NXDOMAIN)")
        except dns.exception.Timeout:
            return TxtLookup(
                name, problem=f"got no answer within {self.timeout:g} s from {self.description}"
            )
        except dns.resolver.NoNameservers as exc:
            errors = "; ".join(_server_error(error[-1]) for error in exc.kwargs.get("errors", []))
            return TxtLookup(
                name, problem=f"was not answered: {self.description} failed ({errors})"
            )
        except (dns.exception.DNSException, OSError) as exc:
            return TxtLookup(name, problem=f"was not answered by {self.description}: {exc}")
        if answer.rrset is None:
            return TxtLookup(name, problem="has no TXT record")
        records = tuple(
            b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer.rrset
        )
        return TxtLookup(name, records=tuple(sorted(records)))


def _server_error(error: object) -> str:
    """A resolver's failure in a few words: the response code it answered, or the error."""
    if isinstance(error, dns.message.Message):
        return f"answered {dns.rcode.to_text(error.rcode())}"
    return str(error)


def run_checks(
    source: TxtSource, domain: str, selectors: list[str], includes: list[str]
) -> list[Finding]:
    """SPF, then DKIM for each selector, then DMARC of ``domain``: one finding each."""
    findings = [check_spf(source.txt(domain), includes)]
    if not selectors:
        findings.append(
            Finding(
                check="dkim",
                name=f"<selector>._domainkey.{domain}",
                status="warn",
                detail="not checked: no DKIM selector given (--dkim-selector or sender.json)",
                records=[],
            )
        )
    for selector in selectors:
        lookup = source.txt(f"{selector}._domainkey.{domain}")
        findings.append(check_dkim(lookup, selector))
    findings.append(check_dmarc(source.txt(f"_dmarc.{domain}")))
    return findings


# --- SPF --------------------------------------------------------------------------------------


def _is_spf(text: str) -> bool:
    lowered = text.lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


def _findings(
    check: CheckName, name: str, records: list[str], selector: str | None = None
) -> Callable[[Status, str], Finding]:
    """The findings one check of ``name`` can give: only the status and the detail differ."""

    def finding(status: Status, detail: str) -> Finding:
        return Finding(
            check=check,
            name=name,
            selector=selector,
            status=status,
            detail=detail,
            records=records,
        )

    return finding


def _not_one(
    lookup: TxtLookup,
    records: list[str],
    finding: Callable[[Status, str], Finding],
    words: tuple[str, str, str],
) -> Finding | None:
    """The failure when ``lookup`` does not hold exactly one record of its kind, else ``None``;
    ``words`` are the kind's name, its tag and why more than one fails."""
    kind, tag, many = words
    if lookup.problem:
        return finding("fail", f"no {kind} record: {lookup.name} {lookup.problem}")
    if not records:
        return finding("fail", f"no {tag} TXT record at {lookup.name}")
    if len(records) > 1:
        return finding("fail", f"{len(records)} {tag} records at {lookup.name}; {many}")
    return None


def check_spf(lookup: TxtLookup, includes: list[str]) -> Finding:
    """Exactly one ``v=spf1`` record, naming every expected include, and a closing ``all``."""
    records = [text for text in lookup.records if _is_spf(text)]
    finding = _findings("spf", lookup.name, records)
    many = "SPF allows one (receivers answer permerror): merge them"
    not_one = _not_one(lookup, records, finding, ("SPF", "v=spf1", many))
    if not_one is not None:
        return not_one
    record = records[0]
    terms = [term.lower() for term in record.split()[1:]]
    named = set()
    for term in terms:
        bare = term.lstrip("+-~?")
        for prefix in ("include:", "redirect="):
            if bare.startswith(prefix):
                named.add(bare[len(prefix) :].rstrip("."))
    missing = [want for want in includes if want.lower().rstrip(".") not in named]
    if missing:
        return finding(
            "fail", f"expected include:{', include:'.join(missing)} not in {_clip(record)}"
        )
    alls = [term for term in terms if term.lstrip("+-~?") == "all"]
    has_redirect = any(term.startswith("redirect=") for term in terms)
    if alls and alls[-1] in ("all", "+all"):
        return finding("warn", f"'{alls[-1]}' lets every server send as the domain: {record}")
    if alls and alls[-1] == "?all":
        return finding("warn", f"'?all' is neutral, unlisted servers are not refused: {record}")
    if not alls and not has_redirect:
        return finding("warn", f"no closing -all or ~all: {_clip(record)}")
    return finding("ok", _clip(record))


# --- DKIM -------------------------------------------------------------------------------------


def _tags(text: str) -> list[tuple[str, str]] | None:
    """``tag=value; ...`` as pairs in order, or None when it is not a tag list."""
    pairs: list[tuple[str, str]] = []
    for part in text.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            return None
        pairs.append((key.strip(), value.strip()))
    if len({key for key, _ in pairs}) != len(pairs):
        return None
    return pairs


def _is_dkim_key(text: str) -> bool:
    pairs = _tags(text)
    if not pairs:
        return text.startswith("v=DKIM1")
    return pairs[0] == ("v", "DKIM1") or any(key == "p" for key, _ in pairs)


def check_dkim(lookup: TxtLookup, selector: str) -> Finding:
    """One key record at the selector: ``v=DKIM1`` first, a non-empty base64 ``p=``."""
    records = [text for text in lookup.records if _is_dkim_key(text)]
    finding = _findings("dkim", lookup.name, records or list(lookup.records), selector)

    if lookup.problem:
        return finding(
            "fail", f"no DKIM key for selector {selector}: {lookup.name} {lookup.problem}"
        )
    if not records:
        return finding(
            "fail", f"no DKIM key (v=DKIM1; p=...) among the TXT records at {lookup.name}"
        )
    pairs = _tags(records[0])
    if pairs is None:
        return finding("fail", f"malformed tag list (tag=value; ...): {_clip(records[0])}")
    tags = dict(pairs)
    if "v" in tags and pairs[0] != ("v", "DKIM1"):
        return finding("fail", f"v= must be the first tag and DKIM1, got v={tags['v']}")
    if "p" not in tags:
        return finding("fail", "no p= tag (public key) in the key record")
    key = "".join(tags["p"].split())
    if not key:
        return finding("fail", "empty p= (the key is revoked): no mail signed with it verifies")
    try:
        size = len(base64.b64decode(key, validate=True))
    except (binascii.Error, ValueError):
        return finding("fail", "p= is not valid base64")
    algorithm = tags.get("k", "rsa")
    summary = f"k={algorithm}, p= key of {size} bytes"
    if len(records) > 1:
        return finding("warn", f"{len(records)} key records: verifiers may use either ({summary})")
    if "v" not in tags:
        return finding("warn", f"no v=DKIM1 tag (optional, but expected first): {summary}")
    if "y" in [flag.strip() for flag in tags.get("t", "").split(":")]:
        return finding(
            "warn", f"testing mode t=y: receivers treat failures as unsigned ({summary})"
        )
    if algorithm == "rsa" and size < _MIN_RSA_KEY_BYTES:
        return finding("warn", f"RSA key shorter than 2048 bits ({summary})")
    return finding("ok", summary)


# --- DMARC ------------------------------------------------------------------------------------


def _is_dmarc(text: str) -> bool:
    head = text.split(";", 1)[0].replace(" ", "").replace("\t", "")
    return head == "v=DMARC1"


def check_dmarc(lookup: TxtLookup) -> Finding:
    """Exactly one ``v=DMARC1`` record with a ``p=`` policy and a ``rua=mailto:`` mailbox."""
    records = [text for text in lookup.records if _is_dmarc(text)]
    finding = _findings("dmarc", lookup.name, records)
    not_one = _not_one(lookup, records, finding, ("DMARC", "v=DMARC1", "receivers then apply none"))
    if not_one is not None:
        return not_one
    pairs = _tags(records[0])
    if pairs is None:
        return finding("fail", f"malformed tag list (tag=value; ...): {_clip(records[0])}")
    tags = dict(pairs)
    policy = tags.get("p")
    if policy is None:
        return finding("fail", f"no p= policy: {_clip(records[0])}")
    if policy.lower() not in ("none", "quarantine", "reject"):
        return finding("fail", f"p={policy} is not none, quarantine or reject")
    uris = [uri.strip() for uri in tags.get("rua", "").split(",") if uri.strip()]
    mailboxes = [uri for uri in uris if uri.lower().startswith("mailto:") and "@" in uri]
    if "rua" not in tags:
        return finding("fail", f"no rua= mailbox: aggregate reports go nowhere (p={policy})")
    if not mailboxes:
        return finding("fail", f"rua={tags['rua']} has no mailto: address")
    summary = f"p={policy}, rua={','.join(mailboxes)}"
    if policy.lower() == "none":
        return finding(
            "warn", f"p=none only monitors, nothing is quarantined or rejected: {summary}"
        )
    return finding("ok", summary)


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the files of ``canary dns-check`` ---------------------------------------------------------


class SenderConfig(BaseModel):
    """``<root>/<tenant>/ops/sender.json``: the tenant's sender, so the check needs no flags."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    domain: str
    dkim_selectors: list[str] = Field(default_factory=list)
    spf_includes: list[str] = Field(default_factory=list)


class DnsCheckReport(BaseModel):
    """``<root>/<tenant>/ops/dns_check_<date>.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    schema_version: int = 1
    tenant: str
    domain: str
    date: dt.date
    checked_at: AwareDatetime
    resolver: str
    timeout: float
    dkim_selectors: list[str]
    spf_includes: list[str]
    status: Status
    findings: list[Finding]
