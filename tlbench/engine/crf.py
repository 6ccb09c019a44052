"""A linear-chain CRF output layer for token classification (``head = "crf"``).

The CRF itself (forward algorithm, Viterbi) is pytorch-crf's. What is ours is where it runs: over
the *labelled* positions only (each word's first sub-token; special tokens, later sub-tokens and
padding carry the label ``IGNORE``), packed to the front of each row so the chain links word to
word, not sub-token to sub-token. Those positions come in ``token_mask``, which the collator derives
from the label pattern: it depends on word boundaries only, never on the gold tags, so inference may
use it.

In training mode the head returns the emissions (its loss is the CRF's negative log-likelihood per
labelled token). In eval mode it returns scores whose arg-max is the Viterbi path: 0 for the chosen
tag and -1e4 for the others at labelled positions (the emissions elsewhere), so every task's
``decode`` (arg-max per token) reads the CRF's decision without knowing a CRF was used.
"""

from __future__ import annotations

import torch
from torch import nn

NOT_CHOSEN = -1e4


def pack(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For ``mask [B, T]``: the order that brings each row's masked positions to the front (stable),
    and the packed mask (``True`` for the first ``mask.sum(1)`` positions)."""
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
    lengths = mask.sum(1, keepdim=True)
    packed = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0) < lengths
    return order, packed


def _gather(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    if x.ndim == 2:
        return x.gather(1, order)
    return x.gather(1, order.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class CrfHead(nn.Module):
    wants_token_mask = True

    def __init__(self, width: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        from torchcrf import CRF

        self.emit = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_labels))
        self.crf = CRF(num_labels, batch_first=True)

    def forward(self, hidden: torch.Tensor, token_mask: torch.Tensor | None) -> torch.Tensor:
        emissions = self.emit(hidden)
        if self.training:
            return emissions
        if token_mask is None:
            raise ValueError("the CRF head needs token_mask (labelled positions) to decode")
        return self.viterbi_scores(emissions.float(), token_mask.bool())

    def loss(self, emissions: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        mask = batch["token_mask"].bool()
        order, packed = pack(mask)
        rows = packed[:, 0]  # the CRF needs at least one position per row
        if not rows.any():
            return emissions.sum() * 0.0
        tags = _gather(batch["labels"], order).masked_fill(~packed, 0)
        log_likelihood = self.crf(_gather(emissions.float(), order)[rows], tags[rows], mask=packed[rows],
                                  reduction="token_mean")
        return -log_likelihood

    @torch.no_grad()
    def viterbi_scores(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        order, packed = pack(mask)
        scores = emissions.clone()
        scores[mask] = NOT_CHOSEN
        rows = packed[:, 0].nonzero().flatten().tolist()
        if not rows:
            return scores
        paths = self.crf.decode(_gather(emissions, order)[rows], mask=packed[rows])
        for r, path in zip(rows, paths, strict=True):
            positions = order[r, :len(path)]
            scores[r, positions, torch.as_tensor(path, device=scores.device)] = 0.0
        return scores
