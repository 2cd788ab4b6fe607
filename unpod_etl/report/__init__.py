"""`unpod-etl report`: one static, self-contained HTML page about recent calls and syncs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from unpod_etl.core import clock

from .data import ReportData, load_report_data
from .page import render_page

__all__ = ["ReportData", "build_report", "load_report_data"]


def build_report(conn: Connection, days: int, *, now: datetime | None = None) -> str:
    """HTML for the last `days` UTC days (today included) read from the warehouse."""
    if days < 1:
        raise ValueError("days must be at least 1")
    moment = now or clock.now()
    return render_page(load_report_data(conn, days, moment), moment)
