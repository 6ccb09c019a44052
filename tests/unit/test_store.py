"""The Optuna storage is the system of record; runs.jsonl is its export."""

from __future__ import annotations

from tests.records import record
from tlbench.records import export_jsonl, latest, read_jsonl
from tlbench.store import Store


def test_records_round_trip_through_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path}/r/tlbench.db"
    store = Store(url, "s")
    store.add(record(seed=0, score=0.8))
    store.add(record(seed=1, status="failed"))
    again = Store(url, "s")  # a new process would see the same
    assert [r.seed for r in again.records()] == [0, 1]
    assert again.records()[0] == record(seed=0, score=0.8)  # typed, and nothing lost on the way
    assert again.finished() == {"full_finetune-sst2-s0"}
    states = [t.state.name for t in again.study.get_trials()]
    assert states == ["COMPLETE", "FAIL"]
    assert again.study.get_trials()[0].value == 0.8


def test_studies_of_two_suites_do_not_mix(tmp_path):
    url = f"sqlite:///{tmp_path}/tlbench.db"
    Store(url, "a").add(record())
    assert Store(url, "b").records() == []


def test_latest_prefers_success_then_newest_failure():
    fail1, ok = record(status="failed"), record(score=0.7)
    fail2 = fail1.but(error="second")
    assert latest([fail1, fail2]) == [fail2]
    assert latest([fail1, ok, fail2]) == [ok]


def test_jsonl_export_round_trip(tmp_path):
    records = [record(seed=s) for s in range(3)]
    export_jsonl(records, tmp_path / "x" / "runs.jsonl")
    assert read_jsonl(tmp_path / "x" / "runs.jsonl") == records
    assert not list((tmp_path / "x").glob(".*tmp"))


def test_heartbeat_ages_use_the_database_clock_in_any_time_zone(tmp_path, monkeypatch):
    """SQLite keeps UTC timestamps: a local clock in Tokyo would make a fresh heartbeat 9 hours old."""
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        store = Store(f"sqlite:///{tmp_path}/tlbench.db", "s", heartbeat_seconds=30)
        trial = store.study.ask()
        store.storage.record_heartbeat(trial._trial_id)
        ages = store.heartbeat_ages()
        assert set(ages) == {trial._trial_id}
        assert 0 <= ages[trial._trial_id] < 600  # seconds, not the UTC offset
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
