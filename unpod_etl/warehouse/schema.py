"""The warehouse tables, declared once (SQLAlchemy Core).

Alembic migrations create these tables; the loader and the tests import them from here.
Column names are the contract documented in the README. JSON columns are JSONB on
PostgreSQL and plain JSON on SQLite, and every timestamp is stored as UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from unpod_etl.warehouse.column_types import JsonDoc, RunId, UtcTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

agents = Table(
    "agents",
    metadata,
    Column("handle", String(255), primary_key=True),
    Column("name", Text),
    Column("type", String(64)),
    Column("state", String(64)),
    Column("description", Text),
    Column("purpose", Text),
    Column("published", Boolean, nullable=False, default=True),
    Column("first_seen_at", UtcTime, nullable=False),
    Column("last_seen_at", UtcTime, nullable=False),
)

tasks = Table(
    "tasks",
    metadata,
    Column("task_id", String(64), primary_key=True),
    Column("agent_handle", String(255), nullable=False, index=True),
    Column("doc_id", String(64)),  # the document's `_id`
    Column("run_id", String(64)),
    Column("status", String(64)),
    Column("execution_type", String(64)),
    Column("thread_id", String(255)),
    Column("ref_id", String(255)),
    Column("space_id", String(255)),
    Column("user_ref", String(255)),  # the document's `user`
    Column("user_org_id", String(255)),
    Column("collection_ref", String(255)),
    Column("provider", String(64)),
    Column("last_status_change", UtcTime),
    Column("created_at", UtcTime, index=True),
    Column("modified_at", UtcTime),
    Column("scheduled_at", UtcTime),
    Column("retry_attempt", Integer),
    Column("failure_count", Integer),
    Column("last_failure_reason", Text),
    Column("objective", Text),
    Column("user_email", Text),
    Column("user_full_name", Text),
    Column("contact_name", Text),
    Column("contact_number", Text),
    Column("contact_email", Text),
    # none | call | email | failed | scheduled | interim | other
    Column("output_kind", String(32)),
    Column("output_error", Text),
    Column("input", JsonDoc),
    Column("output", JsonDoc),
    Column("document", JsonDoc, nullable=False),  # the whole task minus secrets
    Column("fingerprint", String(64), nullable=False),  # sha256 of `document`
    # sha256 of the document exactly as the API sent it: a re-sync skips normalizing
    # documents whose raw form did not change (see agent_sync.py).
    Column("raw_fingerprint", String(64)),
    Column("first_synced_at", UtcTime, nullable=False),
    Column("last_synced_at", UtcTime, nullable=False),
    Column("last_sync_run_id", RunId),
    # Soft delete (migration 0005, warehouse/deletions.py): set by the first complete walk of
    # the agent that missed the task, then deleted_at by the next one; both cleared on return.
    Column("missing_since", UtcTime),
    Column("deleted_at", UtcTime),
    # Migration 0009: a follow-up task names its original (output.referenced_task).
    Column("referenced_task_id", String(64), index=True),
    Column("followup_count", Integer),
)

calls = Table(
    "calls",
    metadata,
    Column("call_id", String(255), primary_key=True),
    Column("task_id", String(64), nullable=False, index=True),
    Column("agent_handle", String(255), nullable=False, index=True),
    Column("call_id_synthetic", Boolean, nullable=False, default=False),
    Column("call_type", String(64)),
    Column("call_status", String(64)),
    Column("call_end_reason", Text),
    Column("start_time", UtcTime, index=True),
    Column("end_time", UtcTime),
    Column("duration_seconds", Float),
    Column("recording_url", Text),
    Column("assistant_number", Text),
    Column("customer", Text),
    Column("contact_number", Text),
    Column("cost", Float),
    Column("call_summary", Text),
    Column("post_call_data", JsonDoc),
    Column("summary_status", String(255)),  # post_call_data.summary.status ("Interested", ...)
    Column("summary_text", Text),
    Column("classification_labels", JsonDoc),  # list of strings
    Column("success_score", Float),  # post_call_data.success_evaluator when numeric
    Column("success_evaluation", Text),  # the raw evaluator value as text
    Column("follow_up_required", Boolean),
    Column("follow_up_time", UtcTime),
    Column("callback_at", UtcTime),
    Column("is_redial", Boolean),
    Column("structured_data", JsonDoc),
    Column("transcript_line_count", Integer, nullable=False, default=0),
)

transcript_lines = Table(
    "transcript_lines",
    metadata,
    Column("call_id", String(255), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("task_id", String(64), nullable=False, index=True),
    Column("role", String(64)),  # normalized: assistant | user | other raw value
    Column("raw_role", String(64)),
    Column("content", Text),
    Column("spoken_at", UtcTime),
    Column("user_id", String(255)),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("run_id", RunId, primary_key=True, autoincrement=True),
    Column("started_at", UtcTime, nullable=False),
    Column("finished_at", UtcTime),
    Column("outcome", String(32), nullable=False),  # a core.outcomes.RunOutcome
    Column("api_url", Text),
    Column("agents_total", Integer, nullable=False, default=0),
    Column("agents_failed", Integer, nullable=False, default=0),
    Column("tasks_seen", Integer, nullable=False, default=0),
    Column("tasks_inserted", Integer, nullable=False, default=0),
    Column("tasks_updated", Integer, nullable=False, default=0),
    Column("tasks_unchanged", Integer, nullable=False, default=0),
    Column("tasks_failed", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("hostname", String(255)),  # who ran it: tells a dead run from a live one
    Column("pid", Integer),
)

sync_agent_results = Table(
    "sync_agent_results",
    metadata,
    Column(
        "run_id",
        RunId,
        ForeignKey("sync_runs.run_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("agent_handle", String(255), primary_key=True),
    Column("started_at", UtcTime, nullable=False),
    Column("finished_at", UtcTime),
    Column("outcome", String(32), nullable=False),  # a core.outcomes.AgentOutcome
    Column("pages", Integer, nullable=False, default=0),
    Column("tasks_seen", Integer, nullable=False, default=0),
    Column("tasks_inserted", Integer, nullable=False, default=0),
    Column("tasks_updated", Integer, nullable=False, default=0),
    Column("tasks_moved", Integer, nullable=False, default=0),
    Column("tasks_changed_unmoved", Integer, nullable=False, default=0),
    Column("tasks_unchanged", Integer, nullable=False, default=0),
    Column("tasks_failed", Integer, nullable=False, default=0),
    # Tasks this agent listed that another agent owns (pipeline/ownership.py): not written.
    Column("duplicate_listing", Integer, nullable=False, default=0, server_default="0"),
    # The walk (0011): complete means it may stand for the agent's whole list (deletions).
    Column("walk_complete", Boolean),  # null: no walk (skipped) or a row older than 0011
    Column("count_mismatch", Boolean, nullable=False, default=False, server_default=false()),
    Column("shifts", Integer, nullable=False, default=0, server_default=text("0")),
    Column("deleted", Integer, nullable=False, default=0, server_default=text("0")),
    Column("restored", Integer, nullable=False, default=0, server_default=text("0")),
    Column("deletes_held", Integer, nullable=False, default=0, server_default=text("0")),
    Column("error", Text),
    # Migration 0008: tasks that moved here from another agent; tasks kept aside because
    # their call_id is another task's call.
    Column("reassigned", Integer, nullable=False, default=0, server_default="0"),
    Column("call_conflicts", Integer, nullable=False, default=0, server_default="0"),
    # Migration 0013, the adaptive walk (pipeline/walk_depth.py): `full` or `shallow`, the
    # deepest page read, the deepest page where something changed, why the walk was full
    # (requested, never, due, count, end), and the counts the next shallow walk compares.
    Column("walk", String(16)),
    Column("pages_walked", Integer),
    Column("deepest_change_page", Integer),
    Column("full_walk_reason", String(32)),
    Column("api_count", Integer),
    Column("stored_tasks", Integer),
)

rejected_records = Table(
    "rejected_records",
    metadata,
    Column("rejection_id", RunId, primary_key=True, autoincrement=True),
    Column("agent_handle", String(255), nullable=False),
    # task_id when the document has a usable one, else "sha256:<fingerprint of the raw doc>"
    Column("record_key", String(255), nullable=False),
    Column("task_id", String(255)),
    Column("reason", Text, nullable=False),
    Column("document", JsonDoc),  # the raw document minus secrets
    Column("page", Integer),
    Column("first_run_id", RunId),
    Column("last_run_id", RunId),
    Column("first_seen_at", UtcTime, nullable=False),
    Column("last_seen_at", UtcTime, nullable=False),
    Column("resolved_at", UtcTime),  # set when a later run loaded the task normally
    UniqueConstraint("agent_handle", "record_key"),
)

# One row per change a sync wrote (migration 0008, warehouse/history.py); unchanged tasks
# add none. `kind`: new, moved, changed_unmoved, deleted, restored, reassigned.
task_changes = Table(
    "task_changes",
    metadata,
    Column("change_id", RunId, primary_key=True, autoincrement=True),
    Column("run_id", RunId, index=True),
    Column("task_id", String(64), nullable=False),
    Column("agent_handle", String(255), nullable=False),
    Column("agent_before", String(255)),  # set when the task came from another agent
    Column("observed_at", UtcTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status_before", String(64)),
    Column("status_after", String(64)),
    Column("marker_before", UtcTime),
    Column("marker_after", UtcTime),
    Column("changed_parts", JsonDoc),  # list of: status, input, output, transcript, ...
)
# Migration 0012 (normalize/pii.py): the --pii mode the rows were written in (one row, id 1;
# key_check tells the HMAC key apart, never holds it) and one row per `forget` (hash only).
pii_settings = Table(
    "pii_settings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("mode", String(16), nullable=False),  # keep | hash | redact
    Column("region", String(8), nullable=False),
    Column("key_check", String(64)),
    Column("changed_at", UtcTime, nullable=False),
)
erasures = Table(
    "erasures",
    metadata,
    Column("erasure_id", RunId, primary_key=True, autoincrement=True),
    Column("contact_hash", String(64), nullable=False, index=True),
    Column("scheme", String(16), nullable=False),  # hmac | sha256
    Column("kind", String(16), nullable=False),  # phone | email
    Column("erased_at", UtcTime, nullable=False),
    Column("tasks_deleted", Integer, nullable=False, default=0, server_default="0"),
    Column("calls_deleted", Integer, nullable=False, default=0, server_default="0"),
    Column("lines_deleted", Integer, nullable=False, default=0, server_default="0"),
)

Index("ix_task_changes_task_id_observed_at", task_changes.c.task_id, task_changes.c.observed_at)

Index("ix_tasks_agent_status", tasks.c.agent_handle, tasks.c.status)
# For the analytics views (migration 0003): per-agent time ranges and stuck-task scans.
Index("ix_calls_agent_handle_start_time", calls.c.agent_handle, calls.c.start_time)
Index("ix_tasks_agent_handle_created_at", tasks.c.agent_handle, tasks.c.created_at)
Index("ix_tasks_status_last_status_change", tasks.c.status, tasks.c.last_status_change)

# Created by migration 0003 on PostgreSQL only (full-text search over transcripts). Not
# declared above, so plain selects keep working on SQLite, where the column does not exist.
PG_ONLY_OBJECTS = {("column", "content_tsv"), ("index", "ix_transcript_lines_content_tsv")}


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic filter: the PostgreSQL-only objects are not schema drift."""
    return not (reflected and compare_to is None and (type_, name) in PG_ONLY_OBJECTS)
