"""The webhook's str() datetimes put back in the pull's form (normalize/webhook.py)."""

from __future__ import annotations

from unpod_etl.fakeapi import FakeUnpod
from unpod_etl.fakeapi.webhook import webhook_document
from unpod_etl.normalize.webhook import as_pulled


def test_space_forms_become_the_pulls_iso_forms():
    doc = {
        "created": "2026-01-31 11:48:14.220000",
        "modified": "2026-01-31 11:48:14",
        "last_status_change": "2026-01-31 11:48:14",
        "output": {"start_time": "2026-01-31 11:47:38.067021"},
    }
    out = as_pulled(doc)
    assert out["created"] == "2026-01-31T11:48:14.220000"
    assert out["modified"] == "2026-01-31T11:48:14"  # no fraction when the milliseconds are 0
    assert out["last_status_change"] == "2026-01-31T11:48:14.000000"  # always microseconds
    assert out["output"] == doc["output"]  # inside output, times are the server's strings
    assert doc["created"] == "2026-01-31 11:48:14.220000"  # the input is not changed


def test_other_values_are_left_to_the_normalizer():
    doc = {
        "created": "2026-01-31T11:48:14.220",
        "modified": "yesterday",
        "last_status_change": None,
    }
    assert as_pulled(doc) == doc
    assert as_pulled({"created": 1769860094}) == {"created": 1769860094}


def test_every_fake_document_round_trips():
    fake = FakeUnpod(agents=3, tasks_per_agent=40, seed=11)
    docs = [doc for handle in fake.all_handles() for doc in fake.tasks(handle)]
    spaced = [webhook_document(doc) for doc in docs]
    assert any(" " in d["created"] for d in spaced)  # the payload really differs
    assert [as_pulled(d) for d in spaced] == docs
