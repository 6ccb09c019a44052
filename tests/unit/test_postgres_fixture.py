"""The ``postgres_url`` fixture gives a database an Optuna RDB storage writes and a second one reads."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState


def test_optuna_rdb_storage_round_trip(postgres_url: str) -> None:
    writer = optuna.storages.RDBStorage(postgres_url)
    reader = None
    try:
        study = optuna.create_study(storage=writer, study_name="fixture", direction="minimize")
        study.add_trial(
            optuna.trial.create_trial(state=TrialState.COMPLETE, value=1.0, user_attrs={"x": [1, 2]})
        )

        reader = optuna.storages.RDBStorage(postgres_url)
        (trial,) = optuna.load_study(study_name="fixture", storage=reader).trials
        assert trial.state == TrialState.COMPLETE
        assert trial.value == 1.0
        assert trial.user_attrs == {"x": [1, 2]}
    finally:
        for storage in (writer, reader):
            if storage is not None:
                storage.engine.dispose()
