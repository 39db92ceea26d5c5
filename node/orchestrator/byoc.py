"""The orchestrator's BYOC batch routes (go-livepeer byoc/job_orchestrator.go; spec node.md §1.3,
§6.1, §6.3): workers register capabilities, gateways fetch a job token and send jobs that are
proxied to the worker and charged by the second.

- POST /capability/register, /capability/unregister: `Authorization` must be the orchestrator's
  secret (-orchSecret); 400 "invalid authorization" otherwise.
- GET /process/token: the job token for (`Livepeer-Eth-Address` sender, `Livepeer-Capability`).
- POST /process/request/{path}: the `Livepeer` job header (and `Livepeer-Payment` when the
  capability has a price) → POST {worker url}/{path}; the worker's answer goes back with
  Livepeer-Balance and X-Metadata; an SSE answer is proxied with a debit every 5 s.

The rules are node.core.byoc's; this module only does the HTTP. Choices beside go's (the core's
docstring lists the rule-level ones):
- Offchain, signatures are not checked at all (go's VerifySig is true offchain, but its hex check
  of the empty offchain signature "0x" fails before it).
- Registration is refused when the orchestrator has no secret (go compares with "" and accepts an
  empty Authorization); a price that cannot be converted is a 400 (go panics).
- A payment that cannot be decoded or processed is 400 "Could not parse payment" (go dereferences
  a nil balance here, spec §12.10); the good tickets before a bad one stay credited.
- The capacity reserved for a job is freed on every path (go keeps it after a timeout, a transport
  error, a 401 or a bad request-details text), and a non-SSE answer must arrive whole within
  timeout_seconds (go's timer stops once the headers arrive).
- An SSE answer is charged by the started second in all: the 5-second debits, then the remainder
  when the worker ends (go only debits the 5-second ticks, so a stream under 5 s is free), and
  the proxy ends when the worker's stream does (go's loop spins until the client leaves).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass
from fractions import Fraction

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from node.core import byoc
from node.core.byoc import (
    BALANCE_HEADER,
    CAPABILITY_HEADER,
    ERR_INSUFFICIENT_BALANCE,
    ERR_NO_CAPACITY,
    ERR_NO_JOB_CREDS,
    ERR_NO_TIMEOUT,
    ERR_PAYMENT,
    ETH_ADDRESS_HEADER,
    JOB_HEADER,
    PAYMENT_BALANCE_HEADER,
    PAYMENT_HEADER,
    SSE_DEBIT_INTERVAL,
    ExternalCapabilities,
    JobError,
    JobRequest,
    JobToken,
    WorkerOutcome,
)
from node.core.errors import PaymentError
from node.core.pricing import PriceError, PriceInfo
from node.eth.errors import ChainError
from node.net.auth import verify_sig
from node.net.go_http import ANY_METHOD, go_error
from node.net.headers import HeaderError, b64decode, decode_payment_header

from .node import OrchestratorNode

log = logging.getLogger("lpnode.orchestrator.byoc")


class JobRefused(Exception):
    """go's setupOrchJob errors; `str(e)` is its message."""


@dataclass(frozen=True)
class OrchJob:
    """A job that passed go's setupOrchJob: the request, its sender, its price, and the stream id
    of its request details ("" when none)."""

    job: JobRequest
    sender: str  # checksum address
    price: PriceInfo
    stream_id: str = ""


class ByocOrchestrator:
    """The orchestrator's external capabilities and their jobs."""

    def __init__(self, node: OrchestratorNode, secret: str, client: httpx.AsyncClient | None = None) -> None:
        self.node = node
        self.secret = secret
        self.capabilities = ExternalCapabilities()
        self.client = client or httpx.AsyncClient(timeout=None, verify=False)  # go: InsecureSkipVerify
        self.feed = None  # a node.core.pricing.PriceFeed for capabilities priced in a fiat currency

    # ------------------------------------------------------------------ rules over the node

    def register(self, body: bytes) -> byoc.ExternalCapability:
        cap = byoc.parse_external_capability(body)
        price = byoc.registered_price(cap, self.feed)
        with self.node.lock:
            cap = self.capabilities.register(cap)
            self.node.prices.set_job_price(cap.name, price)
        return cap

    def price(self, sender: str, capability: str) -> PriceInfo:
        """go's JobPriceInfo (0/1 offchain)."""
        node = self.node
        if not node.onchain:
            return PriceInfo(0, 1)
        with node.lock:
            return byoc.job_price_info(node.prices, sender, capability, auto_adjust=node.config.auto_adjust_price,
                                       tx_cost_multiplier=lambda: node.recipient.tx_cost_multiplier(sender))

    def balance(self, sender: str, capability: str) -> Fraction | None:
        return self.node.receiver.balances.balance(sender, capability) if self.node.onchain else None

    def token(self, sender: byoc.JobSender, address: str, capability: str) -> JobToken:
        """The job token (raises PaymentError/ChainError/PriceError from the price or the params:
        the caller tells which)."""
        try:
            price = self.price(address, capability)
        except (PaymentError, ChainError, PriceError) as exc:
            raise _PriceFailure(str(exc)) from exc
        params = None
        if self.node.onchain:
            with self.node.lock:
                params = self.node.recipient.ticket_params(address, price.price)
        return JobToken(sender, params, byoc.token_balance(self.balance(address, capability)), price,
                        self.node.config.service_uri, self.capabilities.available(capability))

    def pay(self, job: JobRequest, sender: str, price: PriceInfo, header: str) -> str | None:
        """go's confirmPayment: process the payment (if any) and require a minute of credit for a
        priced capability; the error message, or None."""
        if price.price <= 0:
            return None
        if header:
            try:
                payment = decode_payment_header(header)
            except HeaderError:
                return ERR_PAYMENT
            got = self.node.process_payment(payment, job.capability)
            if got.error is not None:
                log.info("job payment error capability=%s sender=%s err=%s", job.capability, sender, got.error)
                return ERR_PAYMENT
        if not byoc.has_minimum_balance(self.balance(sender, job.capability), price.price):
            return ERR_INSUFFICIENT_BALANCE
        return None

    def setup_job(self, header: str, payment: str, reserve: bool) -> OrchJob:
        """go's setupOrchJob, for the batch and the stream routes: verify the job (timeout,
        signature), reserve capacity when asked, price it, take the payment and require a minute
        of credit, read the request details. JobRefused with go's message; the reservation is
        undone on every refusal."""
        try:
            job = byoc.parse_job_request(b64decode(header))
            if self.node.onchain:  # go: offchain signatures always verify
                byoc.verify_job_sig(job, verify_sig)
        except JobError as exc:
            raise JobRefused(ERR_NO_TIMEOUT if str(exc) == ERR_NO_TIMEOUT else ERR_NO_JOB_CREDS) from None
        except ValueError:  # base64
            raise JobRefused(ERR_NO_JOB_CREDS) from None
        if reserve:
            with self.node.lock:
                if not self.capabilities.reserve(job.capability):
                    raise JobRefused(ERR_NO_CAPACITY)
        sender = byoc.hex_to_address(job.sender)
        try:
            try:
                price = self.price(sender, job.capability)
            except (PaymentError, ChainError, PriceError):
                raise JobRefused("Could not get job price") from None
            if (refused := self.pay(job, sender, price, payment)) is not None:
                raise JobRefused(refused)
            try:
                stream_id = byoc.parse_job_details(job.request)
            except JobError as exc:
                raise JobRefused(f"Unable to unmarshal job request details err={exc}") from None
        except JobRefused:
            if reserve:
                self.free(job.capability)
            raise
        return OrchJob(job, sender, price, stream_id)

    def free(self, capability: str) -> None:
        with self.node.lock:
            self.capabilities.free(capability)

    def charge(self, sender: str, capability: str, price: PriceInfo, seconds: int) -> None:
        if self.node.onchain and price.price > 0 and seconds > 0:
            with self.node.lock:
                self.node.receiver.debit_fees(sender, capability, price.price, seconds)

    def balance_header(self, sender: str, capability: str) -> str:
        return byoc.balance_header(self.balance(sender, capability))

    def remove(self, capability: str, why: str) -> None:
        log.warning("removing capability %s: %s", capability, why)
        with self.node.lock:
            self.capabilities.remove(capability)

    async def close(self) -> None:
        await self.client.aclose()


class _PriceFailure(Exception):
    pass


def byoc_router(orch: ByocOrchestrator) -> APIRouter:
    router = APIRouter()
    node = orch.node

    def refused(request: Request) -> Response | None:
        """go's checks of a worker's (un)registration: a POST carrying the orchestrator secret."""
        if request.method != "POST":
            return go_error("Method not allowed", 405)
        if not orch.secret or request.headers.get("Authorization", "") != orch.secret:
            return go_error("invalid authorization", 400)
        return None

    @router.api_route("/capability/register", methods=ANY_METHOD)
    async def register(request: Request):
        if (refusal := refused(request)) is not None:
            return refusal
        try:
            cap = orch.register(await request.body())
        except (JobError, PriceError) as exc:
            return Response(f"Error registering capability: {exc}", 400, media_type="application/json")
        log.info("registered capability=%s url=%s price=%s/%s capacity=%d auth_token=%s", cap.name, cap.url,
                 cap.price_per_unit, cap.price_scaling, cap.capacity, bool(cap.token))
        return Response("ok", 200, media_type="application/json")

    @router.api_route("/capability/unregister", methods=ANY_METHOD)
    async def unregister(request: Request):
        if (refusal := refused(request)) is not None:
            return refusal
        name = (await request.body()).decode(errors="replace")
        with node.lock:
            orch.capabilities.remove(name)
        log.info("removed capability=%s", name)
        return Response("ok", 200, media_type="application/json")

    @router.api_route("/process/token", methods=ANY_METHOD)
    async def token(request: Request):
        if request.method != "GET":
            return go_error("Method not allowed", 405)
        header = request.headers.get(ETH_ADDRESS_HEADER, "")
        if not header:
            return go_error("Must have eth address and signature on address in Livepeer-Eth-Address header", 400)
        try:
            sender = byoc.parse_job_sender(b64decode(header))
            address = (byoc.verify_job_sender(sender, verify_sig) if node.onchain
                       else byoc.hex_to_address(sender.addr))  # offchain: no signatures (go: VerifySig true)
        except (ValueError, JobError):
            return go_error("Invalid eth address header ", 400)
        capability = request.headers.get(CAPABILITY_HEADER, "")
        if not capability:
            return go_error("Job capabilities not provided, must provide comma separated capabilities in "
                            "Livepeer-Capability header", 400)
        try:
            job_token = await asyncio.to_thread(orch.token, sender, address, capability)
        except _PriceFailure as exc:
            status = 503 if str(exc) == "insufficient sender reserve" else 400
            return go_error(f"Could not get price err={exc}", status)
        except (PaymentError, ChainError) as exc:
            return go_error(f"Could not get ticket params err={exc}", 400)
        return Response(job_token.to_json() + b"\n", 200, media_type="application/json")

    @router.api_route("/process/request/{path:path}", methods=ANY_METHOD)
    async def process(request: Request, path: str):
        if request.method != "POST":
            return go_error("Method not allowed", 405)
        # go's setupOrchJob: job creds (timeout, signature, capacity), price, payment, details
        try:
            setup = await asyncio.to_thread(orch.setup_job, request.headers.get(JOB_HEADER, ""),
                                            request.headers.get(PAYMENT_HEADER, ""), True)
        except JobRefused as exc:
            return go_error(str(exc), 503 if str(exc) == ERR_NO_CAPACITY else 400)
        job, sender, price = setup.job, setup.sender, setup.price
        freed = streaming = False

        def free() -> None:
            nonlocal freed
            if not freed:
                freed = True
                orch.free(job.capability)

        try:
            with node.lock:
                cap = orch.capabilities.get(job.capability)
            if cap is None:  # unregistered since it was reserved
                return go_error(ERR_NO_CAPACITY, 503)
            body = await request.body()
            url = byoc.worker_url(cap.url, request.url.path)
            headers = {"Content-Type": request.headers.get("Content-Type", "")}
            if cap.token:
                headers["Authorization"] = "Bearer " + cap.token
            response = await _forward(orch, job, sender, price, url, body, headers, free)
            streaming = isinstance(response, StreamingResponse)  # the stream frees it when it ends
            return response
        finally:
            if not streaming:
                free()

    return router


async def _forward(orch: ByocOrchestrator, job: JobRequest, sender: str, price: PriceInfo, url: str,
                   body: bytes, headers: dict, free) -> Response:
    """POST the job to the worker and answer the gateway, charging by the started second."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    timeout = float(job.timeout_seconds)
    capability = job.capability

    def finish(status: int, message: str) -> Response:
        orch.charge(sender, capability, price, math.ceil(loop.time() - start))
        return go_error(message, status, {BALANCE_HEADER: orch.balance_header(sender, capability)})

    upstream = None
    try:
        async with asyncio.timeout(timeout):
            upstream = await orch.client.send(orch.client.build_request("POST", url, content=body, headers=headers),
                                              stream=True)
            sse = "text/event-stream" in upstream.headers.get("content-type", "")
            data = b"" if sse else await upstream.aread()
    except TimeoutError:
        await _close(upstream)
        return finish(500, "job not able to be processed, removing capability err=context deadline exceeded")
    except httpx.HTTPError as exc:
        await _close(upstream)
        outcome = WorkerOutcome.CONNECTION_ERROR if upstream is None else WorkerOutcome.READ_ERROR
        if byoc.removes_capability(outcome):
            orch.remove(capability, f"worker unreachable: {exc!r}")
            return finish(500, f'job not able to be processed, removing capability err=Post "{url}": {exc}')
        return finish(500, str(exc) or repr(exc))
    if upstream.status_code == 401:
        await _close(upstream)
        orch.remove(capability, "the worker answered 401")
        return finish(500, "job not able to be processed, removing capability err=worker auth token failed")
    metadata = {"X-Metadata": upstream.headers.get("x-metadata", "")}
    if not sse:
        if upstream.status_code > 399:
            orch.charge(sender, capability, price, math.ceil(loop.time() - start))
            return go_error(data.decode(errors="replace"), upstream.status_code,
                            {BALANCE_HEADER: orch.balance_header(sender, capability), **metadata})
        orch.charge(sender, capability, price, math.ceil(loop.time() - start))
        return Response(data, 200, headers={BALANCE_HEADER: orch.balance_header(sender, capability), **metadata,
                                             "Content-Type": upstream.headers.get("content-type", "")})
    headers = {"Cache-Control": "no-cache", "Connection": "keep-alive",
               PAYMENT_BALANCE_HEADER: orch.balance_header(sender, capability), **metadata}
    return StreamingResponse(_proxy_sse(orch, upstream, sender, capability, price, start, timeout, free),
                             media_type="text/event-stream", headers=headers)


async def _proxy_sse(orch: ByocOrchestrator, upstream: httpx.Response, sender: str, capability: str,
                     price: PriceInfo, start: float, timeout: float, free):
    """The worker's events, line by line; every 5 s a debit of 5 s of compute, and the end of the
    stream when the balance goes negative."""
    loop = asyncio.get_running_loop()
    ticks = 0  # 5-second debits made
    lines = upstream.aiter_lines()
    next_line = None
    try:
        while loop.time() - start < timeout:
            tick = start + (ticks + 1) * SSE_DEBIT_INTERVAL
            if next_line is None:
                next_line = asyncio.ensure_future(anext(lines))
            done, _ = await asyncio.wait({next_line}, timeout=max(0.0, min(tick, start + timeout) - loop.time()))
            if not done:
                if loop.time() >= tick:
                    ticks += 1
                    orch.charge(sender, capability, price, SSE_DEBIT_INTERVAL)
                    if byoc.sse_out_of_credit(price.price, orch.balance(sender, capability)):
                        yield byoc.SSE_INSUFFICIENT_BALANCE
                        return
                continue
            next_line = None
            try:
                line = done.pop().result()
            except (StopAsyncIteration, httpx.HTTPError):
                break
            if byoc.is_done_line(line):
                _charge_rest(orch, sender, capability, price, start, ticks, loop)
                yield byoc.sse_balance_event(orch.balance(sender, capability))
                yield line + "\n"
                return
            yield line + "\n"
        _charge_rest(orch, sender, capability, price, start, ticks, loop)
        yield byoc.sse_balance_event(orch.balance(sender, capability))
        yield byoc.SSE_DONE
    finally:
        if next_line is not None and not next_line.done():
            next_line.cancel()
            with contextlib.suppress(BaseException):
                await next_line
        await _close(upstream)
        free()


def _charge_rest(orch, sender, capability, price, start, ticks, loop) -> None:
    """What the 5-second debits have not covered of ceil(elapsed)."""
    rest = math.ceil(loop.time() - start) - ticks * SSE_DEBIT_INTERVAL
    if rest > 0:
        orch.charge(sender, capability, price, rest)


async def _close(response: httpx.Response | None) -> None:
    if response is not None:
        with contextlib.suppress(Exception):
            await response.aclose()
