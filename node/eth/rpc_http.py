"""JSON-RPC over HTTP for JsonRpcChain: every request has a timeout, and every way the chain can
fail to answer becomes node.eth.errors.ChainUnavailable, never a requests/urllib3 exception.

web3's own HTTPProvider retries a failed read five times with back-off (so a frozen chain costs
a caller five timeouts) and leaks requests' exceptions; this provider sends once and fails fast:

- connection refused, unknown host, no connection within `timeout`: ChainUnavailable at once
  (`maybe_delivered` False: the node never saw the request);
- no answer within `timeout`, the connection reset or closed mid-answer, an answer still
  arriving after `timeout`: ChainUnavailable (`maybe_delivered` True);
- an HTTP error status, an answer over `max_response_bytes`, or one that is not JSON:
  ChainUnavailable naming the status or the problem.

JSON-RPC errors inside a well-formed answer are not this module's business: web3 raises them
as it always does (reverts become TransactionFailed in node.eth.chain).
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import requests
import urllib3
from web3 import HTTPProvider

from .chain import DEFAULT_RPC_TIMEOUT
from .errors import ChainUnavailable

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # more than geth's largest batch answer (25 MB)


class ChainHTTPProvider(HTTPProvider):
    def __init__(self, url: str, timeout: float = DEFAULT_RPC_TIMEOUT,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        super().__init__(url, exception_retry_configuration=None)
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._local = threading.local()  # a requests.Session per thread

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    # web3's hooks: one request, a batch, the answer's decoding
    def _make_request(self, method, request_data: bytes) -> bytes:
        return self.post(str(method), request_data)

    def make_batch_request(self, batch_requests):
        request_data = self.encode_batch_rpc_request(batch_requests)
        response = self.decode_rpc_response(self.post("batch", request_data))
        if not isinstance(response, list):
            return response  # one error for the whole batch
        from web3._utils.batching import sort_batch_response_by_response_ids

        return sort_batch_response_by_response_ids(response)

    def decode_rpc_response(self, raw_response: bytes) -> Any:
        try:
            return json.loads(raw_response)
        except (ValueError, RecursionError) as exc:
            method = getattr(self._local, "method", "?")
            raise ChainUnavailable(str(self.endpoint_uri), method,
                                   f"the answer is not JSON ({str(exc)[:100]})") from None

    def post(self, method: str, data: bytes) -> bytes:
        """POST `data`; the answer's body, or ChainUnavailable."""
        url = str(self.endpoint_uri)
        self._local.method = method
        deadline = time.monotonic() + self.timeout
        headers = self.get_request_headers()
        try:
            with self._session().post(url, data=data, headers=headers, timeout=(self.timeout, self.timeout),
                                      stream=True) as response:
                body = bytearray()
                while chunk := response.raw.read1(65536, decode_content=True):  # what has arrived, at most 64 KiB
                    body += chunk
                    if len(body) > self.max_response_bytes:
                        raise ChainUnavailable(url, method, f"the answer is over {self.max_response_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise ChainUnavailable(url, method, f"the answer took over {self.timeout:g} s")
                if not 200 <= response.status_code < 300:
                    text = bytes(body[:200]).decode("utf-8", "replace").strip()
                    raise ChainUnavailable(url, method, f"HTTP {response.status_code} {response.reason}"
                                           + (f": {text}" if text else ""))
                return bytes(body)
        except requests.exceptions.ConnectTimeout:
            raise ChainUnavailable(url, method, f"no connection within {self.timeout:g} s",
                                   maybe_delivered=False) from None
        except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError):
            raise ChainUnavailable(url, method, f"timed out after {self.timeout:g} s") from None
        except requests.exceptions.ConnectionError as exc:
            refused = _connect_failure(exc)
            if refused is not None:
                raise ChainUnavailable(url, method, refused, maybe_delivered=False) from None
            raise ChainUnavailable(url, method, f"connection lost: {_reason(exc)}") from None
        except urllib3.exceptions.HTTPError as exc:  # reading the body
            raise ChainUnavailable(url, method, f"connection lost: {_reason(exc)}") from None
        except requests.exceptions.RequestException as exc:
            raise ChainUnavailable(url, method, _reason(exc)) from None
        except OSError as exc:  # a socket error no layer wrapped
            raise ChainUnavailable(url, method, f"connection lost: {_reason(exc)}") from None


def _connect_failure(exc: requests.exceptions.ConnectionError) -> str | None:
    """What stopped the connection being made ("connection refused"...), or None when it was made."""
    from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    if isinstance(reason, NameResolutionError):
        return "unknown host"
    if isinstance(reason, NewConnectionError):
        cause = reason.__cause__ or reason.__context__
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        return f"cannot connect: {cause.strerror if isinstance(cause, OSError) and cause.strerror else reason}"
    return None


def _reason(exc: BaseException) -> str:
    """The innermost readable cause of a requests/urllib3 exception."""
    from http.client import RemoteDisconnected

    seen = exc
    for _ in range(10):
        inner = next((a for a in seen.args if isinstance(a, BaseException)), None) or getattr(seen, "reason", None)
        if not isinstance(inner, BaseException) or inner is seen:
            break
        seen = inner
    if isinstance(seen, RemoteDisconnected):
        return "the chain closed the connection without answering"
    if isinstance(seen, OSError) and seen.strerror:
        return seen.strerror.lower()
    return str(seen)[:200] or type(seen).__name__
