"""The gateway's orchestrator discovery, sans I/O (go-livepeer discovery/discovery.go
`GetOrchestrators`, discovery/suspensionqueue.go, discovery/wh_discovery.go,
discovery/db_discovery.go, common/types.go, cmd/livepeer/starter/starter.go `parseOrchAddrs`,
`defaultAddr`, `parseOrchBlacklist`; spec node.md §3.2, §3.3, §3.6).

A `Discovery` is one GetOrchestrators call. The runtime owns the I/O: it sends GetOrchestrator to
every URL in `to_query` (and to every URL that `response` returns), measures each call's latency,
keeps one timer that fires `deadline` seconds after the start, and feeds the outcomes back with
`response`, `error` and `timer_fired` until `done`; `result()` is the answer. The core decides
which answers count, when to stop and in which order the orchestrators come back.

The pool helpers turn `-orchAddr`, a webhook body and `-orchBlocklist` into pool entries.
"""
from __future__ import annotations

import heapq
import json
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Iterable, Optional, Protocol, Sequence
from urllib.parse import urlsplit

SCORE_UNTRUSTED = 0.0  # on-chain (DB) pool
SCORE_TRUSTED = 1.0  # -orchAddr list
ORCHESTRATOR_RPC_PORT = "8935"
DISCOVERY_TIMEOUT = 0.5  # -discoveryTimeout default, seconds
CUTOFF_TIMEOUT = 6.0  # maxGetOrchestratorCutoffTimeout: hard end of one discovery


class RandomSource(Protocol):
    """random.Random, numpy.random.Generator, or anything else with .random() in [0, 1)."""

    def random(self) -> float: ...


def shuffled(items: Iterable, rng: RandomSource) -> list:
    """A uniformly random permutation of `items` (Fisher–Yates on rng.random())."""
    out = list(items)
    for i in range(len(out) - 1, 0, -1):
        j = min(int(rng.random() * (i + 1)), i)
        out[i], out[j] = out[j], out[i]
    return out


@dataclass(frozen=True, slots=True)
class OrchestratorInfo:
    """What GetOrchestrator answers, as far as discovery and selection look at it (the wire
    layer fills it from net.OrchestratorInfo)."""

    transcoder: str = ""  # the O's service URI; empty means it does no work
    address: str = ""  # checksum hex of the O's ETH address; "" if it sent none
    ticket_params: Any = None
    price_info: Optional[Fraction] = None  # wei per pixel
    capabilities: Any = None  # None: the O advertised no capabilities (legacy O)
    nodes: tuple[str, ...] = ()  # extra node URLs the O advertises (-nodes)


@dataclass(frozen=True, slots=True)
class OrchestratorLocalInfo:
    """A pool entry: where to reach an O and how much the gateway trusts it."""

    url: str
    score: float


@dataclass(frozen=True, slots=True)
class OrchestratorDescriptor:
    """One accepted discovery answer: the URL queried, its answer and the measured latency (s)."""

    url: str
    info: OrchestratorInfo
    latency: float


def cap_num_orchestrators(num_orchestrators: int, num_candidates: int, extra_nodes: int = 0) -> int:
    """How many orchestrators a discovery can return: each candidate plus its extra nodes."""
    return min(num_orchestrators, num_candidates * (extra_nodes + 1))


def _blocklist_key(address: str) -> str:
    return address.strip().lower().removeprefix("0x")


class Discovery:
    """One GetOrchestrators call over `candidates` (the pool's URLs that passed the score
    predicate), wanting `num_orchestrators`.

    An answer is accepted iff the RPC succeeded, the address is not blocklisted, `predicate(info)`
    holds, the capabilities fit (`compatible(info.capabilities)`; an O that advertises none is
    accepted only if the job is `legacy_only`) and the transcoder URI is non-empty. Accepted Os whose
    transcoder URI `suspended(uri)` penalises wait aside, least penalty first.

    Discovery ends when every expected answer arrived, `num_orchestrators` unsuspended Os were
    accepted, or a timer fires: the first `timeout` after the start; each firing with nothing
    accepted re-arms so that the total wait doubles (0.5, 1, 2, 4 s) until the 6 s cutoff.
    """

    __slots__ = ("num_orchestrators", "to_query", "deadline", "done", "timed_out", "_expected",
                 "_responses", "_first_level", "_seen", "_accepted", "_suspended_heap",
                 "_timeout", "_suspended", "_blocklist", "_predicate", "_compatible",
                 "_legacy_only", "_extra_nodes")

    def __init__(self, candidates: Sequence[str], num_orchestrators: int, rng: RandomSource, *,
                 suspended: Optional[Callable[[str], int]] = None,
                 blocklist: Iterable[str] = (),
                 predicate: Optional[Callable[[OrchestratorInfo], bool]] = None,
                 compatible: Optional[Callable[[Any], bool]] = None,
                 legacy_only: bool = True,
                 extra_nodes: int = 0,
                 timeout: float = DISCOVERY_TIMEOUT) -> None:
        self.num_orchestrators = cap_num_orchestrators(num_orchestrators, len(candidates),
                                                       extra_nodes)
        # Go waits for |candidates| × (E+1) answers, whether or not the Os advertise that many
        # nodes; with E > 0 and fewer nodes it ends on N accepted or on a timer instead.
        self._expected = len(candidates) * (extra_nodes + 1)
        self._responses = 0
        self._first_level = frozenset(candidates)
        self._seen = set(candidates)
        self._accepted: list[OrchestratorDescriptor] = []
        # (penalty, arrival, descriptor): go's container/heap leaves ties in no set order; we
        # break them by arrival so a run is reproducible.
        self._suspended_heap: list[tuple[int, int, OrchestratorDescriptor]] = []
        self._timeout = timeout
        self.deadline = min(timeout, CUTOFF_TIMEOUT)
        self.timed_out = False
        self._suspended = suspended
        self._blocklist = frozenset(_blocklist_key(b) for b in blocklist) - {""}
        self._predicate = predicate
        self._compatible = compatible
        self._legacy_only = legacy_only
        self._extra_nodes = extra_nodes
        # N <= 0 returns nothing. (Go still fires the RPCs for N == 0 and ignores the answers;
        # we do not send queries nobody reads.)
        self.done = self.num_orchestrators <= 0
        self.to_query: list[str] = [] if self.done else shuffled(candidates, rng)

    def _accepts(self, info: OrchestratorInfo) -> bool:
        if self._blocklist and _blocklist_key(info.address or "") in self._blocklist:
            return False
        if self._predicate is not None and not self._predicate(info):
            return False
        if info.capabilities is None:
            if not self._legacy_only:
                return False
        elif self._compatible is not None and not self._compatible(info.capabilities):
            return False
        return bool(info.transcoder)

    def _extra(self, url: str, info: OrchestratorInfo) -> list[str]:
        """The unseen URLs among the first E nodes a first-level O advertises (no deeper
        recursion). Go looks at the first E entries and skips seen ones, so fewer than E may be
        queried; the spec's "first E distinct unseen URLs" is not what the source does."""
        if url not in self._first_level or not info.nodes or self._extra_nodes <= 0:
            return []
        new = []
        for node in info.nodes[:self._extra_nodes]:
            if node in self._seen:
                continue
            self._seen.add(node)  # even if unparsable, as go does
            if _url_ok(node, request=False):
                new.append(node)
        return new

    def _count_answer(self) -> None:
        self._responses += 1
        if (self._responses >= self._expected
                or len(self._accepted) >= self.num_orchestrators):
            self.done = True

    def response(self, url: str, info: OrchestratorInfo, latency: float) -> list[str]:
        """GetOrchestrator(`url`) answered `info` after `latency` seconds. Returns the extra node
        URLs the runtime must query now (empty once discovery is done)."""
        if self.done:
            return []
        extra = self._extra(url, info)  # go expands nodes even for answers it then rejects
        if self._accepts(info):
            descriptor = OrchestratorDescriptor(url, info, latency)
            # Suspension is keyed by the transcoder URI the O reports, not the URL queried.
            penalty = self._suspended(info.transcoder) if self._suspended else 0
            if penalty == 0:
                self._accepted.append(descriptor)
            else:
                heapq.heappush(self._suspended_heap, (penalty, self._responses, descriptor))
        self._count_answer()
        return [] if self.done else extra

    def error(self, url: str) -> None:
        """GetOrchestrator(`url`) failed (RPC error, refused, timed out on its own)."""
        if not self.done:
            self._count_answer()

    def timer_fired(self) -> None:
        """The timer armed for `deadline` (seconds since the start) fired. Afterwards either
        `done`, or `deadline` holds the next one to arm."""
        if self.done:
            return
        if self.deadline >= CUTOFF_TIMEOUT or self._accepted:
            self.timed_out = True
            self.done = True
            return
        # Go re-arms with the current timeout and then doubles it, so the total wait doubles.
        self.deadline = min(self.deadline + self._timeout, CUTOFF_TIMEOUT)
        self._timeout = min(self._timeout * 2, CUTOFF_TIMEOUT)

    def result(self) -> list[OrchestratorDescriptor]:
        """Accepted Os by latency, then suspended ones by ascending penalty up to
        `num_orchestrators`. Meant for when `done`; callable any time."""
        ods = sorted(self._accepted, key=lambda d: d.latency)
        missing = self.num_orchestrators - len(ods)
        if missing > 0 and self._suspended_heap:
            ods.extend(d for _, _, d in heapq.nsmallest(missing, self._suspended_heap))
        return ods


def db_pool_predicate(validate_ticket_params: Callable[[Any], Any]
                      ) -> Callable[[OrchestratorInfo], bool]:
    """The on-chain pool's extra acceptance rule (§3.6): the O sent an address, its ticket params
    pass `validate_ticket_params` (which raises on invalid params) and its price is set and
    non-negative."""
    def predicate(info: OrchestratorInfo) -> bool:
        if not info.address:
            return False
        try:
            validate_ticket_params(info.ticket_params)
        except Exception:  # any error rejects, as go's `err != nil`
            return False
        price = info.price_info
        if type(price) is Fraction:  # its sign is its numerator's: no generic comparison per offer
            return price.numerator >= 0
        return price is not None and price >= 0

    return predicate


# --- pool helpers ---------------------------------------------------------------------------

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _url_ok(s: str, request: bool) -> bool:
    """Approximates go's url.ParseRequestURI (`request`) / url.Parse: no control characters or
    bad %-escapes; a request URI needs a scheme or an absolute path; no colon in a relative
    reference's first segment; a numeric port and no space in the host."""
    if any(c < " " or c == "\x7f" for c in s) or _BAD_ESCAPE.search(s):
        return False
    if not _SCHEME.match(s):
        if request and not s.startswith("/"):
            return False
        if ":" in s.split("/", 1)[0]:
            return False
    try:
        parts = urlsplit(s)
        parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        return False
    return " " not in parts.netloc


def _default_addr(addr: str, host: str, port: str) -> str:
    """go's defaultAddr: "" -> host:port, ":p" -> host:p, "h" -> h:port, anything with ":" as is."""
    if not addr:
        return f"{host}:{port}"
    if addr[0] == ":":
        return host + addr
    if ":" not in addr:
        return f"{addr}:{port}"
    return addr


def parse_orch_addrs(addrs: str) -> list[OrchestratorLocalInfo]:
    """`-orchAddr`: comma-separated orchestrators, port 8935 unless given, https:// unless a
    scheme is given, all trusted (score 1.0). Unparsable entries are skipped (go logs "Could not
    parse orchestrator URI"). As in go an empty entry ("a,,b") means 127.0.0.1:8935."""
    res: list[OrchestratorLocalInfo] = []
    if not addrs:
        return res
    for addr in addrs.split(","):
        addr = _default_addr(addr.strip(), "127.0.0.1", ORCHESTRATOR_RPC_PORT)
        # Go tests the prefix "http", which also swallows hosts such as "httpbin.org:8935";
        # we test for the schemes themselves.
        if not addr.lower().startswith(("http://", "https://")):
            addr = "https://" + addr
        if _url_ok(addr, request=True):
            res.append(OrchestratorLocalInfo(addr, SCORE_TRUSTED))
    return res


def _json_kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "bool"}.get(type(value), "number")


def parse_webhook_body(body: bytes | str) -> list[OrchestratorLocalInfo]:
    """An `-orchWebhookUrl` answer: a JSON array of {"address": URL, "score": float}. Entries with
    an empty or unparsable address are skipped; unknown fields are ignored; keys match
    case-insensitively (go's encoding/json). Raises ValueError on anything that is not such an
    array (go then keeps its cached list). `null` is an empty list, as in go."""
    try:
        entries = json.loads(body)
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"Unable to unmarshal JSON: {err}") from None
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ValueError("Unable to unmarshal JSON: expected an array of {address, score}, "
                         f"got {_json_kind(entries)}")
    res: list[OrchestratorLocalInfo] = []
    for i, entry in enumerate(entries):
        if entry is None:
            continue
        if not isinstance(entry, dict):
            raise ValueError(f"Unable to unmarshal JSON: entry {i} is {_json_kind(entry)}, "
                             "not an object")
        address, score = "", 0.0
        for key, value in entry.items():
            folded = key.lower()
            if folded == "address":
                if value is not None and not isinstance(value, str):
                    raise ValueError(f"Unable to unmarshal JSON: entry {i} address is "
                                     f"{_json_kind(value)}, not string")
                address = value or ""
            elif folded == "score":
                if value is not None and (isinstance(value, bool)
                                          or not isinstance(value, (int, float))):
                    raise ValueError(f"Unable to unmarshal JSON: entry {i} score is "
                                     f"{_json_kind(value)}, not number")
                score = float(value or 0.0)
        if address and _url_ok(address, request=True):
            res.append(OrchestratorLocalInfo(address, score))
    return res


def parse_orch_blocklist(blocklist: Optional[str]) -> frozenset[str]:
    """`-orchBlocklist`: comma-separated ETH addresses, compared as lower-case hex without 0x.
    Unlike go we trim spaces and drop empty entries: go keeps "" (its default), which
    blocklists an O whose address field is empty, and " 0xab…" which never matches."""
    if not blocklist:
        return frozenset()
    return frozenset(_blocklist_key(b) for b in blocklist.split(",")) - {""}
