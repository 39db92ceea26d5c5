"""The gateway's BYOC batch route (go-livepeer byoc/job_gateway.go, byoc/payment.go; spec node.md
§1.4, §6.2): POST /process/request/{path} with the client's `Livepeer` job header.

1. The job header must parse, carry timeout_seconds, and its `request` and `parameters` must be
   JSON (400 "Unable to parse job request, err=…" and the like).
2. Every orchestrator of the pool (in an order drawn from the gateway's seeded generator, less
   the job's `exclude`, only its `include` when set) is asked for a job token at once:
   GET /process/token, 500 ms each, 1 s in all; tokens with free capacity are kept in the order
   they arrive.
3. For each token in turn: the job is signed by the gateway and POSTed to the orchestrator with
   a payment when the capability has a price (node.core.byoc: the local balance is set to what
   the orchestrator reported; two minutes of credit need no tickets, else the whole timeout is
   paid, at most 600 tickets), timeout_seconds + 5 s. A transport error or a 5xx tries the next
   orchestrator; a 4xx goes back to the client; a success goes back with Livepeer-Balance,
   X-Metadata and X-Orchestrator-Url, and ceil(elapsed) × price is taken off the local balance.
   An SSE answer is passed through up to its [DONE] line (at most timeout_seconds + 10 s).

Choices beside go's: the client gets the orchestrator's Content-Type (go lets its server sniff
one); when no orchestrator could take the job the answer is 503 with the last failure (go answers
an empty 200); offchain, job and sender signatures are empty and not checked (go's "0x" empty
signature would fail its own hex check).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from fractions import Fraction

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from node.core import byoc
from node.core.byoc import (
    BALANCE_HEADER,
    CAPABILITY_HEADER,
    ETH_ADDRESS_HEADER,
    GATEWAY_TIMEOUT_MARGIN,
    JOB_HEADER,
    PAYMENT_HEADER,
    SSE_TIMEOUT_MARGIN,
    TOKEN_RESPONSE_TIMEOUT,
    TOKEN_SEARCH_TIMEOUT,
    JobError,
    JobRequest,
    JobToken,
)
from node.core.errors import PaymentError
from node.core.payment import Payment
from node.net.auth import sign
from node.net.go_http import ANY_METHOD, go_error
from node.net.headers import b64decode, encode_payment_header

from .node import GatewayNode

log = logging.getLogger("lpnode.gateway.byoc")

SEARCH_TIMEOUT_NS = int(TOKEN_SEARCH_TIMEOUT * 1e9)
RESP_TIMEOUT_NS = int(TOKEN_RESPONSE_TIMEOUT * 1e9)


class NoPayment(Exception):
    """No payment can be made on this orchestrator's token: the gateway tries the next."""


def parse_job(header: str) -> tuple[JobRequest, byoc.JobParameters]:
    """go's setupGatewayJob checks of the client's `Livepeer` header, for the batch and the stream
    routes: the job, its request details and its parameters must parse (JobError with go's 400
    message)."""
    try:
        job = byoc.parse_job_request(b64decode(header))
    except JobError as exc:
        raise JobError(f"Unable to parse job request, err={exc}") from None
    except ValueError:
        raise JobError(f"Unable to parse job request, err={byoc.ERR_SEG_ENCODING}") from None
    try:
        byoc.parse_job_details(job.request)
    except JobError as exc:
        raise JobError(f"Unable to unmarshal job request err={exc}") from None
    try:
        params = byoc.parse_job_parameters(job.parameters)
    except JobError as exc:
        raise JobError(f"Unable to unmarshal job parameters err={exc}") from None
    return job, params


class ByocGateway:
    def __init__(self, gateway: GatewayNode) -> None:
        self.gateway = gateway
        self.client = gateway.http  # verify=False: go's InsecureSkipVerify
        self._sender: byoc.JobSender | None = None

    def _sign(self, msg: bytes) -> bytes:
        return sign(msg, self.gateway.account.key)

    def job_sender(self) -> byoc.JobSender:
        """The Livepeer-Eth-Address the gateway presents (signed once)."""
        if self._sender is None:
            g = self.gateway
            self._sender = (byoc.job_sender(g.address, self._sign) if g.onchain
                            else byoc.JobSender("0x" + "00" * 20, "0x"))
        return self._sender

    def sign(self, job: JobRequest) -> JobRequest:
        if not self.gateway.onchain:
            return byoc.sign_job(job, "0x" + "00" * 20, lambda msg: b"")
        return byoc.sign_job(job, self.gateway.address, self._sign)

    # ------------------------------------------------------------------ token discovery

    async def tokens(self, capability: str, params: byoc.JobParameters) -> list[JobToken]:
        """go's getJobOrchestrators: every candidate asked at once, tokens with free capacity in
        the order they arrive, until all answered or the search timeout."""
        g = self.gateway
        urls = await g.refresh_pool()
        order = list(range(len(urls)))
        g.rng.shuffle(order)
        candidates = byoc.filter_orchestrators(urls, params, order)
        headers = {ETH_ADDRESS_HEADER: self.job_sender().header(), CAPABILITY_HEADER: capability}

        async def fetch(url: str) -> JobToken | None:
            try:
                async with asyncio.timeout(TOKEN_RESPONSE_TIMEOUT):
                    base = url if "://" in url else "http://" + url  # a bare -orchAddr: lpnode's plaintext
                    resp = await self.client.get(base.rstrip("/") + "/process/token", headers=headers)
                if resp.status_code != 200:
                    log.info("no job token from %s: %d %s", url, resp.status_code, resp.text.strip())
                    return None
                return byoc.parse_job_token(resp.content)
            except (TimeoutError, httpx.HTTPError, JobError) as exc:
                log.info("no job token from %s: %r", url, exc)
                return None

        found: list[JobToken] = []
        pending = {asyncio.ensure_future(fetch(u)) for u in candidates}
        try:
            async with asyncio.timeout(TOKEN_SEARCH_TIMEOUT):
                for next_done in asyncio.as_completed(pending):
                    token = await next_done
                    if token is not None and token.available_capacity > 0:
                        found.append(token)
        except TimeoutError:
            pass
        finally:
            for task in pending:
                task.cancel()
        return found

    # ------------------------------------------------------------------ payment

    def payment_header(self, job: JobRequest, token: JobToken) -> str:
        """go's createPayment: "" when the local balance covers two minutes; else tickets for the
        job's whole timeout. Raises NoPayment when no payment can be made."""
        g = self.gateway
        if not g.onchain:
            raise NoPayment("no ticket sender available, cannot create payment")
        params = token.ticket_params
        if params is None:
            raise NoPayment("no ticket params available, cannot create payment")
        price = token.price_per_second
        balance = byoc.sync_gateway_balance(g.balances, params.recipient, job.capability, token.balance)
        count = byoc.tickets_for_job(balance, price, job.timeout_seconds, params.ev)
        if count == 0:
            return ""
        session = g.sender.start_session(params)
        try:
            batch = g.sender.create_ticket_batch(session, count)
        except PaymentError as exc:
            raise NoPayment(f"Unable to create ticket batch err={exc}") from None
        finally:
            g.sender.cleanup_session(session)  # one offer per job: nothing to continue
        byoc.credit_tickets(g.balances, params.recipient, job.capability, count, params.ev)
        g.metrics.tickets_sent.labels(params.recipient).inc(count)
        g.metrics.ticket_value_sent.labels(params.recipient).inc(float(count * params.ev))
        return encode_payment_header(Payment(g.address, params, batch.expiration_params, batch.sender_params,
                                             token.price))

    def settle(self, job: JobRequest, token: JobToken, elapsed: float) -> Fraction:
        """After the job: ceil(elapsed) × price off the local (orchestrator, capability) balance."""
        if token.ticket_params is None:
            return Fraction(0)
        return byoc.charge_gateway(self.gateway.balances, token.recipient, job.capability, elapsed,
                                   token.price_per_second)



def byoc_gateway_router(bg: ByocGateway) -> APIRouter:
    router = APIRouter()

    @router.api_route("/process/request/{path:path}", methods=ANY_METHOD)
    async def submit(request: Request, path: str):
        if request.method != "POST":
            return go_error("Method not allowed", 405)
        try:
            job, params = parse_job(request.headers.get(JOB_HEADER, ""))
        except JobError as exc:
            return go_error(str(exc), 400)
        tokens = await bg.tokens(job.capability, params)
        if not tokens:
            return go_error(f"No orchestrators found for capability {job.capability}", 400)
        job = JobRequest(**{**{k: getattr(job, k) for k in job.__dataclass_fields__},
                            "orch_search_timeout_ns": SEARCH_TIMEOUT_NS,
                            "orch_search_resp_timeout_ns": RESP_TIMEOUT_NS})
        body = await request.body()
        loop = asyncio.get_running_loop()
        last = "no orchestrator answered"
        for token in tokens:
            signed = bg.sign(job)
            headers = {"Content-Type": request.headers.get("Content-Type", ""), JOB_HEADER: byoc.job_request_header(signed)}
            upstream = None
            start = loop.time()
            try:
                priced = token.price is not None and token.price.price_per_unit > 0
                if priced and (payment := bg.payment_header(job, token)):
                    headers[PAYMENT_HEADER] = payment
                async with asyncio.timeout(job.timeout_seconds + GATEWAY_TIMEOUT_MARGIN):
                    upstream = await bg.client.send(bg.client.build_request(
                        "POST", token.service_addr + request.url.path, content=body, headers=headers), stream=True)
                    sse = "text/event-stream" in upstream.headers.get("content-type", "")
                    data = b"" if sse else await upstream.aread()
            except (NoPayment, TimeoutError, httpx.HTTPError) as exc:
                last = f"{token.service_addr}: {exc!r}"
                log.warning("job %s not processed by %s: %r", job.id, token.service_addr, exc)
                await _close(upstream)
                continue
            if upstream.status_code > 399:
                await _close(upstream)
                text = data.decode(errors="replace")
                if upstream.status_code < 500:  # go's http.Error again: a second newline, as go
                    return go_error(text, upstream.status_code)
                last = f"{token.service_addr}: {upstream.status_code} {text.strip()}"
                log.warning("job %s failed at %s: %s", job.id, token.service_addr, last)
                continue
            out_headers = {BALANCE_HEADER: upstream.headers.get(BALANCE_HEADER, ""),
                           "X-Metadata": upstream.headers.get("x-metadata", ""),
                           "X-Orchestrator-Url": token.service_addr}
            if not sse:
                balance = bg.settle(job, token, loop.time() - start)
                log.info("job %s processed by %s took=%.3fs balance=%s", job.id, token.service_addr,
                         loop.time() - start, byoc.float_string(balance, 0))
                return Response(data, 200, headers=out_headers,
                                media_type=upstream.headers.get("content-type") or None)
            return StreamingResponse(_pass_sse(bg, job, token, upstream, start), media_type="text/event-stream",
                                     headers={**out_headers, "Cache-Control": "no-cache", "Connection": "keep-alive"})
        return go_error(f"No orchestrator could process the job: {last}", 503)

    return router


async def _pass_sse(bg: ByocGateway, job: JobRequest, token: JobToken, upstream: httpx.Response, start: float):
    """The orchestrator's events, line by line, up to the [DONE] line or timeout + 10 s."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(job.timeout_seconds + SSE_TIMEOUT_MARGIN):
            async for line in upstream.aiter_lines():
                yield line + "\n"
                if byoc.is_done_line(line):
                    return
    except TimeoutError:
        yield byoc.SSE_DONE
    except httpx.HTTPError as exc:
        log.warning("job %s: SSE from %s broke off: %r", job.id, token.service_addr, exc)
    finally:
        await _close(upstream)
        bg.settle(job, token, loop.time() - start)


async def _close(response: httpx.Response | None) -> None:
    if response is not None:
        with contextlib.suppress(Exception):
            await response.aclose()
