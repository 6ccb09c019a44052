"""IMDb movie reviews (Maas et al., 2011): binary sentiment of long texts, ``stanfordnlp/imdb``.

No validation split exists: hyperparameters are chosen on rows carved from train (seeded,
stratified) and the score is reported on test. Reviews are long: at 256 tokens, many are cut, and
each record says how many.
"""

from __future__ import annotations

from pydantic import Field

from tlbench import TaskOptions, TextTask, hookimpl


class ImdbOptions(TaskOptions):
    max_length: int = Field(256, gt=1, le=8192, description="tokens per review, longer is cut")


class Imdb(TextTask):
    description = "IMDb binary sentiment of long movie reviews; accuracy (reported on test)"
    Options = ImdbOptions
    hub_id, folder = "stanfordnlp/imdb", "imdb"
    source_datasets = ("imdb",)
    text_columns, default_labels = ("text",), ("neg", "pos")
    report_split = "test"
    primary_metric = "accuracy"
    secondary_metrics = ("macro_f1",)


@hookimpl
def register_tasks(register):
    register("imdb", Imdb)
