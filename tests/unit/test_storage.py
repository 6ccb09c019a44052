"""The Optuna storage behind the queue: what of it is shown to users."""

from __future__ import annotations

from tlbench.storage import safe_url


def test_storage_urls_are_shown_without_password():
    assert safe_url("postgresql://bob:s3cret@db.lan:5432/tl") == "postgresql://bob:***@db.lan:5432/tl"
    assert "s3cret" not in safe_url("postgresql+psycopg2://bob:s3cret@db/tl")
