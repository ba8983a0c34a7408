"""What the latency benchmark writes: percentiles, the JSON record, the table and the plot."""

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Labels of the clients, in the order of the table and the plot legend.
LABELS = {
    "ours_cold": "ours, cold",
    "ours_warm": "ours, warm",
    "bare": "bare aiohttp (floor)",
    "sdk": "dashscope SDK 2.0.2",
    "ha_url": "HA tts_get_url",
    "ha_assist": "HA Assist stream",
}


@dataclass(frozen=True, slots=True)
class Targets:
    """The issue's p50 targets, as multiples of the RTT above the server's delay."""

    warm_rtts: float = 1.3
    cold_rtts: float = 4.5
    slack: float = 0.010
    vs_sdk: float = 0.5

    def warm(self, delay: float, rtt: float) -> float:
        """Return the warm-session target for one RTT."""
        return delay + self.warm_rtts * rtt + self.slack

    def cold(self, delay: float, rtt: float) -> float:
        """Return the fresh-connection target for one RTT."""
        return delay + self.cold_rtts * rtt + self.slack


def percentiles(samples: list[float]) -> dict[str, float]:
    """Return p50 and p95 (inclusive method: no extrapolation past the largest sample)."""
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[18]
    return {"p50": round(statistics.median(samples), 4), "p95": round(p95, 4)}


def summarize(samples: dict[str, dict[int, list[float]]]) -> dict[str, dict[int, dict[str, Any]]]:
    """Return p50, p95 and the raw samples per client and RTT (ms)."""
    return {
        client: {
            rtt: {**percentiles(values), "samples": [round(v, 4) for v in values]}
            for rtt, values in by_rtt.items()
        }
        for client, by_rtt in samples.items()
    }


def _ratio(numerator: float | None, denominator: float | None) -> str:
    """Format a ratio, or a dash when a side was not measured."""
    if numerator is None or not denominator:
        return "-"
    return f"{numerator / denominator:.2f}"


def _above(delay: float, *values: float | None) -> list[float | None]:
    """Return each time minus the server delay: what a client adds to it."""
    return [None if value is None else value - delay for value in values]


def _ms(value: float | None) -> str:
    """Format seconds as whole milliseconds."""
    return "-" if value is None else f"{value * 1000:.0f}"


def table(results: dict[str, Any]) -> str:
    """Return the Markdown table of BENCHMARKS.md: p50 (p95) in ms, ratios, limits, targets."""
    delay = results["server_delay"]
    clients: dict[str, dict[int, dict[str, Any]]] = results["clients"]
    targets = Targets()
    shown = [name for name in LABELS if name in clients]
    head = ["RTT", "limit", *[LABELS[name] for name in shown]]
    head += ["warm target", "cold target", "warm/SDK", "cold/SDK", "warm/cold"]
    head += ["above delay: warm/SDK", "cold/SDK"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for rtt_ms in results["rtts_ms"]:
        rtt = rtt_ms / 1000

        def p50(name: str, rtt_ms: int = rtt_ms) -> float | None:
            """Return a client's median at this RTT, if it was measured."""
            row = clients.get(name, {}).get(rtt_ms)
            return None if row is None else float(row["p50"])

        cells = [f"{rtt_ms} ms", _ms(delay + rtt)]
        cells += [
            f"{_ms(clients[name][rtt_ms]['p50'])} ({_ms(clients[name][rtt_ms]['p95'])})"
            for name in shown
        ]
        cold, warm, sdk = p50("ours_cold"), p50("ours_warm"), p50("sdk")
        cells += [
            _ms(targets.warm(delay, rtt)),
            _ms(targets.cold(delay, rtt)),
            _ratio(warm, sdk),
            _ratio(cold, sdk),
            _ratio(warm, cold),
            _ratio(*_above(delay, warm, sdk)),
            _ratio(*_above(delay, cold, sdk)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(results: dict[str, Any], path: Path) -> None:
    """Write the whole record (samples included) as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def plot(results: dict[str, Any], path: Path) -> None:
    """Draw first audio (p50, bars to p95) against RTT per client, with limit and targets."""
    import matplotlib as mpl  # noqa: PLC0415 - only the benchmark needs it

    mpl.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415

    delay = results["server_delay"]
    rtts = results["rtts_ms"]
    targets = Targets()
    figure, axes = plt.subplots(figsize=(8, 5), dpi=110)
    for name, label in LABELS.items():
        rows = results["clients"].get(name)
        if not rows:
            continue
        p50 = [rows[rtt]["p50"] * 1000 for rtt in rtts]
        p95 = [rows[rtt]["p95"] * 1000 for rtt in rtts]
        axes.errorbar(
            rtts,
            p50,
            yerr=[[0] * len(rtts), [high - mid for mid, high in zip(p50, p95, strict=True)]],
            marker="o",
            capsize=3,
            label=label,
        )
    for label, values, style in (
        ("limit: delay + 1 RTT", [(delay + r / 1000) * 1000 for r in rtts], ":"),
        ("warm target", [targets.warm(delay, r / 1000) * 1000 for r in rtts], "--"),
        ("cold target", [targets.cold(delay, r / 1000) * 1000 for r in rtts], "-."),
    ):
        axes.plot(rtts, values, style, color="grey", label=label)
    axes.set_xlabel("network round-trip time (ms)")
    axes.set_ylabel("request to first audio (ms), p50, bar to p95")
    axes.set_title(f"First audio through a latency proxy, TLS, server delay {delay * 1000:.0f} ms")
    axes.grid(visible=True, alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
