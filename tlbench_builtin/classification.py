"""Moved into the core: :class:`tlbench.TextTask`, :func:`tlbench.encode_texts`,
:func:`tlbench.classification_metrics` and :func:`tlbench.correlations`. These names stay here for
code that imported them from this module before; new code imports them from ``tlbench``."""

from __future__ import annotations

from tlbench import TextTask, classification_metrics, correlations, encode_texts

__all__ = ["TextTask", "classification_metrics", "correlations", "encode_texts"]
