"""Prometheus text exposition for /metrics (api.md §14.2). Counters live here; gauges are read
from the application's objects at scrape time."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any, Callable

from .. import __version__

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Histogram:
    def __init__(self) -> None:
        self.counts = [0] * len(DURATION_BUCKETS)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.total += 1
        self.sum += value
        for i, bound in enumerate(DURATION_BUCKETS):
            if value <= bound:
                self.counts[i] += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        out = [f'{name}_bucket{{{labels}{sep}le="{b}"}} {c}' for b, c in zip(DURATION_BUCKETS, self.counts)]
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.total}')
        out.append(f"{name}_sum{{{labels}}} {self.sum:.6f}" if labels else f"{name}_sum {self.sum:.6f}")
        out.append(f"{name}_count{{{labels}}} {self.total}" if labels else f"{name}_count {self.total}")
        return out


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    def __init__(self) -> None:
        self.started = time.time()
        self.http_requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.http_duration = Histogram()
        self.node_messages: dict[str, int] = defaultdict(int)
        self.node_commands: dict[str, int] = defaultdict(int)
        self.command_duration = Histogram()
        self.extra_collectors: list[Callable[[Any], list[str]]] = []

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests[(method, route, status)] += 1
        self.http_duration.observe(seconds)

    def render(self, app: Any) -> str:
        lines = [
            "# TYPE bilbycast_build_info gauge", f'bilbycast_build_info{{version="{__version__}"}} 1',
            "# TYPE bilbycast_uptime_seconds gauge", f"bilbycast_uptime_seconds {time.time() - self.started:.0f}",
            "# TYPE bilbycast_login_failures_total counter",
            f"bilbycast_login_failures_total {app.auth.login_failures_total}",
            "# TYPE bilbycast_http_requests_total counter",
        ]
        for (method, route, status), count in sorted(self.http_requests.items()):
            lines.append(f'bilbycast_http_requests_total{{method="{method}",route="{_escape(route)}",status="{status}"}} {count}')
        lines.append("# TYPE bilbycast_http_request_duration_seconds histogram")
        lines += self.http_duration.lines("bilbycast_http_request_duration_seconds")
        lines.append("# TYPE bilbycast_node_messages_total counter")
        for kind, count in sorted(self.node_messages.items()):
            lines.append(f'bilbycast_node_messages_total{{type="{_escape(kind)}"}} {count}')
        lines.append("# TYPE bilbycast_node_commands_total counter")
        for result, count in sorted(self.node_commands.items()):
            lines.append(f'bilbycast_node_commands_total{{result="{_escape(result)}"}} {count}')
        lines.append("# TYPE bilbycast_node_command_duration_seconds histogram")
        lines += self.command_duration.lines("bilbycast_node_command_duration_seconds")
        for collect in self.extra_collectors:
            lines += collect(app)
        return "\n".join(lines) + "\n"


class LoopLagMonitor:
    """Samples how late the event loop wakes a 100 ms timer; the last 30 s p50/p99 are
    exported, so a benchmark (or an operator) sees when the hub starts falling behind."""

    def __init__(self, interval: float = 0.1, keep: int = 300):
        self.interval = interval
        self.samples: list[float] = []
        self.keep = keep

    async def run(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval)
            self.samples.append(max(0.0, loop.time() - started - self.interval))
            if len(self.samples) > self.keep * 2:
                del self.samples[:-self.keep]

    def quantile(self, q: float) -> float:
        recent = sorted(self.samples[-self.keep:])
        if not recent:
            return 0.0
        return recent[min(len(recent) - 1, int(q * len(recent)))]

    def lines(self, app: Any) -> list[str]:
        return ["# TYPE bilbycast_event_loop_lag_seconds gauge",
                f'bilbycast_event_loop_lag_seconds{{quantile="0.5"}} {self.quantile(0.5):.6f}',
                f'bilbycast_event_loop_lag_seconds{{quantile="0.99"}} {self.quantile(0.99):.6f}',
                f'bilbycast_event_loop_lag_seconds{{quantile="1"}} {self.quantile(1.0):.6f}']


def hub_lines(app: Any) -> list[str]:
    """Gauges read from the hub and the writers at scrape time."""
    statuses: dict[str, int] = {"online": 0, "offline": 0, "pending": 0}
    for live in app.hub.live.values():
        statuses[live.status] = statuses.get(live.status, 0) + 1
    lines = ["# TYPE bilbycast_nodes gauge"]
    lines += [f'bilbycast_nodes{{status="{s}"}} {n}' for s, n in sorted(statuses.items())]
    lines += ["# TYPE bilbycast_node_up gauge"]
    for live in sorted(app.hub.live.values(), key=lambda n: n.id):
        labels = f'node_id="{live.id}",node_name="{_escape(live.name)}",device_type="{live.device_type}"'
        lines.append(f"bilbycast_node_up{{{labels}}} {1 if live.status == 'online' else 0}")
        summary = live.summary or {}
        if summary.get("bitrate_bps") is not None:
            lines.append(f"bilbycast_node_bitrate_bps{{{labels}}} {summary['bitrate_bps']}")
        if summary.get("flows_running") is not None:
            lines.append(f"bilbycast_node_flows_running{{{labels}}} {summary['flows_running']}")
        health = {"healthy": 0, "warning": 1, "critical": 2}.get(live.health or "")
        if health is not None:
            lines.append(f"bilbycast_node_health{{{labels}}} {health}")
    unacked = sum(app.fanout.alarms_by_node.values())
    lines += ["# TYPE bilbycast_events_unacked gauge", f"bilbycast_events_unacked {unacked}",
              "# TYPE bilbycast_dashboard_clients gauge", f"bilbycast_dashboard_clients {len(app.fanout.clients)}",
              "# TYPE bilbycast_dashboard_tick_seconds gauge",
              f"bilbycast_dashboard_tick_seconds {_mean(app.fanout.tick_seconds):.6f}",
              "# TYPE bilbycast_history_write_queue_depth gauge",
              f"bilbycast_history_write_queue_depth {app.history.queue_depth}",
              "# TYPE bilbycast_db_write_queue_depth gauge", f"bilbycast_db_write_queue_depth {app.db.queue_depth}",
              "# TYPE bilbycast_node_malformed_frames_total counter",
              f"bilbycast_node_malformed_frames_total {app.hub.malformed_frames}"]
    return lines


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
