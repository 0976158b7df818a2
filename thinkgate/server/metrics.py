"""Prometheus metrics of one server (its own registry, so several servers can live in one process).

`thinkgate_tokens_saved_estimate_total` estimates the thinking tokens saved against always thinking: each
request that thought less than an unconstrained thought (no thinking, a budget, an early exit) adds the
running mean of the reasoning tokens of this server's unconstrained `think` requests minus its own. It
is 0 until one unconstrained thinking request was served.
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        r = self.registry = CollectorRegistry()
        self.requests = Counter("thinkgate_requests", "Requests by endpoint and HTTP status.", ["endpoint", "status"], registry=r)
        self.latency = Histogram("thinkgate_request_latency_seconds", "Time to the last byte.", ["endpoint"],
                                 buckets=_LATENCY, registry=r)
        self.ttft = Histogram("thinkgate_time_to_first_token_seconds", "Time to the first streamed delta.", ["endpoint"],
                              buckets=_LATENCY, registry=r)
        self.reasoning_tokens = Counter("thinkgate_reasoning_tokens", "Thinking tokens written.", registry=r)
        self.answer_tokens = Counter("thinkgate_answer_tokens", "Answer tokens written.", registry=r)
        self.generated_tokens = Counter("thinkgate_generated_tokens",
                                        "Tokens generated, as generated (probes and samples included).", registry=r)
        self.decisions = Counter("thinkgate_decisions", "Thinking decisions by mode and what decided it.",
                                 ["mode", "source"], registry=r)
        self.saved = Counter("thinkgate_tokens_saved_estimate", "Thinking tokens saved vs always thinking (estimate).",
                             registry=r)
        self.cancelled = Counter("thinkgate_cancelled", "Requests whose client went away before the end.", registry=r)
        self.in_flight = Gauge("thinkgate_requests_in_flight", "Requests admitted and not finished.", registry=r)
        self.rejected = Counter("thinkgate_rejected_queue_full", "Requests refused with 429.", registry=r)
        self.batch_rows = Histogram("thinkgate_batch_rows", "Prompts per shared generate call.",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r)
        self._think_sum = 0
        self._think_n = 0
        self._lock = threading.Lock()

    def served(self, mode: str, source: str, reasoning: int, answer: int, unconstrained_think: bool) -> None:
        self.decisions.labels(mode, source).inc()
        self.reasoning_tokens.inc(reasoning)
        self.answer_tokens.inc(answer)
        with self._lock:
            if unconstrained_think:
                self._think_sum += reasoning
                self._think_n += 1
            elif self._think_n:
                self.saved.inc(max(0.0, self._think_sum / self._think_n - reasoning))

    def render(self) -> bytes:
        return generate_latest(self.registry)
