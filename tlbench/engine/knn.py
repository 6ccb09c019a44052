"""A cosine k-nearest-neighbour "head" on frozen features (the probe's ``head = "knn"``).

Nothing trains: the training rows' features (each labelled token's, for token classification) and
their targets are kept as the model's memory, and a row is predicted from its ``k`` most similar
memories, each voting with weight ``1 + cosine`` (so a tie in votes goes to the closer neighbours).
Classification outputs the vote shares per class (arg-max decodes), regression the weighted mean.
The memory is what a user must store for the task, so ``save`` writes it and the cost columns count
it. Written here rather than with scikit-learn's ``KNeighborsClassifier`` so that it runs inside the
same batched torch inference as every other head (token-level rows, devices, length-sorted batches).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from tlbench.engine.features import labelled_matrix
from tlbench.engine.options import head_problem
from tlbench.interfaces import HeadSpec

CHUNK = 2048  # query vectors compared with the memory at once (bounds the similarity matrix)


class KnnModel(nn.Module):
    stores_buffers = True  # its state is buffers (the memory), saved with the trained parameters

    def __init__(self, spec: HeadSpec, width: int, k: int = 10):
        super().__init__()
        problem = head_problem(spec, "knn")
        if problem:
            raise ValueError(problem)
        self.spec, self.k = spec, k
        self.register_buffer("memory", torch.zeros(0, width))
        self.register_buffer("targets", torch.zeros(0))

    def remember(self, rows: Sequence[dict[str, Any]]) -> None:
        """Keep the training rows' normalised features and targets (labelled tokens only)."""
        feats, targets = labelled_matrix(list(rows))
        self.memory = nn.functional.normalize(torch.as_tensor(feats), dim=-1)
        self.targets = torch.as_tensor(targets)

    def forward(self, features: torch.Tensor, **_: object) -> torch.Tensor:
        if not len(self.memory):
            raise RuntimeError("the kNN head has no memory: call remember() on the training rows first")
        flat = nn.functional.normalize(features.reshape(-1, features.shape[-1]).float(), dim=-1)
        out = torch.cat([self._vote(flat[i:i + CHUNK]) for i in range(0, len(flat), CHUNK)])
        return out.reshape(*features.shape[:-1], out.shape[-1])

    def _vote(self, x: torch.Tensor) -> torch.Tensor:
        sims, idx = (x @ self.memory.T).topk(min(self.k, len(self.memory)), dim=1)
        weights = 1.0 + sims
        neighbours = self.targets[idx]
        if self.spec.kind == "regression":
            return ((neighbours.float() * weights).sum(1) / weights.sum(1)).unsqueeze(-1)
        votes = torch.zeros(len(x), self.spec.num_labels, device=x.device)
        votes.scatter_add_(1, neighbours.long(), weights)
        return votes / votes.sum(1, keepdim=True)
