"""The benchmark's table."""

from __future__ import annotations

from .suite import Results


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}" if count and seconds > 0 else "-"


def table(res: Results) -> str:
    head = ["phase", "seconds", "tasks/s", "lines/s", "peak RSS MB", "vs floor", "target"]
    rows = [head]
    for p in res.phases:
        ratio = target = "-"
        if p.floor:
            floor = res.get(p.floor)
            ratio = f"{p.seconds / floor.seconds:.2f}x {p.floor.split(' (')[0]}"
        if p.target:
            ok = p.floor is not None and p.seconds / res.get(p.floor).seconds <= p.target
            target = f"<= {p.target:g}x {'ok' if ok else 'MISSED'}"
        rss = f"{p.peak_rss_mb:.0f}" if p.peak_rss_mb is not None else "-"
        rows.append(
            [
                p.name,
                f"{p.seconds:.2f}",
                _rate(p.tasks, p.seconds),
                _rate(p.lines, p.seconds),
                rss,
                ratio,
                target,
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [
        f"workload {res.workload}: {res.agents} agents x {res.tasks_per_agent:,} tasks, "
        f"page size {res.page_size}"
    ]
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    sync = next((p for p in res.phases if p.name == "initial sync"), None)
    if sync and sync.peak_rss_mb is not None:
        verdict = "ok" if sync.peak_rss_mb < 300 else "MISSED"
        lines.append(
            f"peak RSS of the initial sync: {sync.peak_rss_mb:.0f} MB (< 300 MB {verdict})"
        )
    lines.extend(res.notes)
    return "\n".join(lines)
