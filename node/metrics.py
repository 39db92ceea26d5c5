"""Prometheus metrics with go-livepeer's names (monitor/census.go: namespace "livepeer", so
`livepeer_<name>`), for what this node measures. Each node has its own registry, served at
/metrics; labels follow go's tags where they apply (sender, orchestrator_uri, pipeline, model_name,
error_code)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST  # noqa: F401  (re-exported for the HTTP handlers)

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)


class NodeMetrics:
    def __init__(self, node_type: str, node_id: str) -> None:
        self.registry = r = CollectorRegistry()
        ns = "livepeer"

        def counter(name, doc, labels=()):
            return Counter(name, doc, labels, namespace=ns, registry=r)

        def gauge(name, doc, labels=()):
            return Gauge(name, doc, labels, namespace=ns, registry=r)

        def histogram(name, doc, labels=()):
            return Histogram(name, doc, labels, namespace=ns, registry=r, buckets=LATENCY_BUCKETS)

        self.info = gauge("node_info", "this node", ("node_id", "node_type"))
        self.info.labels(node_id, node_type).set(1)
        # segments and transcoding
        self.segment_source_appeared = counter("segment_source_appeared", "segments ingested")
        self.segment_transcoded = counter("segment_transcoded", "segments transcoded")
        self.segment_transcode_failed = counter("segment_transcode_failed", "segments that failed", ("error_code",))
        self.transcode_time = histogram("transcode_time_seconds", "time to transcode a segment")
        self.transcode_overall_latency = histogram("transcode_overall_latency_seconds",
                                                   "ingest to renditions, at the gateway")
        self.orchestrator_swaps = counter("orchestrator_swaps", "segments sent to another orchestrator")
        self.discovery_errors = counter("discovery_errors", "GetOrchestrator failures")
        self.current_sessions = gauge("current_sessions_total", "transcoding sessions open")
        # payments
        self.tickets_sent = counter("tickets_sent", "tickets sent", ("recipient",))
        self.ticket_value_sent = counter("ticket_value_sent", "EV of tickets sent (wei)", ("recipient",))
        self.payment_create_errors = counter("payment_create_errors", "payments that could not be made")
        self.tickets_recv = counter("tickets_recv", "tickets received", ("sender",))
        self.ticket_value_recv = counter("ticket_value_recv", "EV of tickets received (wei)", ("sender",))
        self.winning_tickets_recv = counter("winning_tickets_recv", "winning tickets received", ("sender",))
        self.payment_recv_errors = counter("payment_recv_errors", "payments refused", ("sender", "error_code"))
        self.value_redeemed = counter("value_redeemed", "face value redeemed on chain (wei)", ("sender",))
        self.ticket_redemption_errors = counter("ticket_redemption_errors", "redemptions that failed", ("sender",))
        self.gateway_deposit = gauge("gateway_deposit", "the gateway's TicketBroker deposit (wei)")
        self.gateway_reserve = gauge("gateway_reserve", "the gateway's TicketBroker reserve (wei)")
        self.reward_call_errors = counter("reward_call_errors", "reward calls that failed")
        # go logs replacements but has no metric for them; the name is ours
        self.transaction_replacements = counter("transaction_replacements",
                                                "stuck transactions replaced at a higher gas price")
        # AI
        self.ai_models_requested = counter("ai_models_requested", "AI requests", ("pipeline", "model_name"))
        self.ai_request_errors = counter("ai_request_errors", "AI requests that failed",
                                         ("pipeline", "model_name", "error_code"))
        self.ai_request_latency = histogram("ai_request_latency_seconds", "AI request latency",
                                            ("pipeline", "model_name"))

        # live AI at the gateway: go's ai_current_live_pipelines, ai_live_attempt, ai_first_segment_delay_ms
        # and orchestrator_swaps (above); go has no metric for the rest, the names are ours
        self.ai_current_live_pipelines = gauge("ai_current_live_pipelines", "live AI streams running",
                                               ("pipeline",))
        self.ai_live_attempts = counter("ai_live_attempt", "live AI streams attempted", ("model_name",))
        self.ai_first_segment_delay = Histogram(
            "ai_first_segment_delay_ms", "first input segment sent to first output segment back (ms)",
            namespace=ns, registry=r, buckets=(10, 20, 50, 100, 150, 200, 500, 1000, 5000, 10000))
        self.ai_live_segments = counter("ai_live_segments", "live AI segments relayed", ("direction",))
        self.ai_live_payments = counter("ai_live_payments", "live AI interval payments", ("result",))
        self.ai_live_events = counter("ai_live_events", "live AI runner events received", ("type",))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
