"""all-MiniLM-L6-v2 sentence embeddings in NumPy: the semantic cache without PyTorch.

Reproduces `SentenceTransformer(folder).encode(texts, normalize_embeddings=True)` (BERT, mean pooling, L2
normalisation) from the files the model folder ships: config.json, sentence_bert_config.json,
1_Pooling/config.json, tokenizer.json and model.safetensors. tests/cache/test_minilm.py checks it against
sentence-transformers wherever that is installed.

Thread-safe without a lock: the tokenizer's truncation and padding are set once in `load`, after which only
`encode_batch` (an immutable borrow of the Rust tokenizer) is called, and the forward pass only reads weights.
The weights stay float32 (86 MiB); a process is at about 136 MiB after loading and one encode, against about
520 MiB for sentence-transformers and torch. NumPy's BLAS should run one thread here (OPENBLAS_NUM_THREADS=1,
set in interiorai/settings.py): short prompts gain nothing from a second, and it fights the web server for cores.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

# Texts run through the network sorted by length, in chunks of at most this
# many tokens including padding (but always at least one text). This bounds
# the working memory (attention scores are at most heads * _CHUNK_TOKENS * 256
# floats, 12 MiB here) and stops one long text from making every short text in
# a big list pay for 256 positions: the cost of a chunk is about rows * width.
_CHUNK_TOKENS = 1024

# Abramowitz & Stegun 7.1.26: erfc(z) ~ t*poly(t)*exp(-z*z), t = 1/(1 + P*z),
# for z >= 0, absolute error <= 1.5e-7.
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


@dataclass(frozen=True)
class _Layer:
    """Weights of one encoder layer; matrices are stored (in, out) for x @ w."""

    # Stored (in, out) and contiguous because x @ w with few rows (a short
    # prompt) runs about twice as fast as x @ torch_weight.T in OpenBLAS.
    qkv_w: np.ndarray  # (hidden, 3*hidden): query, key and value side by side
    qkv_b: np.ndarray
    attn_out_w: np.ndarray  # (hidden, hidden)
    attn_out_b: np.ndarray
    attn_ln_w: np.ndarray
    attn_ln_b: np.ndarray
    inter_w: np.ndarray  # (hidden, intermediate)
    inter_b: np.ndarray
    out_w: np.ndarray  # (intermediate, hidden)
    out_b: np.ndarray
    out_ln_w: np.ndarray
    out_ln_b: np.ndarray


def _read_json(path: Path) -> dict[str, Any]:
    """Return the JSON object stored at path."""
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """Normalise the last axis to zero mean and unit variance, then scale and shift."""
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)  # biased, as torch
    return centred / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    """Apply the exact (erf) GELU, x * Phi(x), elementwise."""
    # Phi(x) = 1 - erfc(x/sqrt2)/2 for x >= 0 and erfc(|x|/sqrt2)/2 for x < 0.
    # Working from erfc of |x| avoids cancellation for negative x, where
    # GELU is tiny, and keeps the error at about one float32 ulp of the output.
    # In-place updates keep this to three float arrays of x's size; written
    # naively it costs as much as the two feed-forward matmuls together.
    z = np.abs(x)
    z *= np.float32(1.0 / math.sqrt(2.0))
    t = _AS_P * z
    t += 1.0
    np.reciprocal(t, out=t)
    # Horner: erfc = t*(a1 + t*(a2 + t*(a3 + t*(a4 + t*a5)))) * exp(-z*z)
    erfc = _AS_A[-1] * t
    for a in reversed(_AS_A[:-1]):
        erfc += a
        erfc *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    erfc *= z
    erfc *= x
    erfc *= 0.5  # now x * erfc(|x|/sqrt2) / 2, which is GELU(x) for x < 0
    np.subtract(x, erfc, out=erfc, where=x >= 0)
    return erfc


class MiniLM:
    """A BERT sentence encoder with mean pooling, run in NumPy float32."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        word_emb: np.ndarray,
        pos_emb: np.ndarray,
        type_emb: np.ndarray,
        emb_ln_w: np.ndarray,
        emb_ln_b: np.ndarray,
        layers: list[_Layer],
        num_heads: int,
        eps: float,
    ) -> None:
        """Store the configured tokenizer and the weights; use MiniLM.load instead."""
        self._tokenizer = tokenizer
        self._word_emb = word_emb
        self._pos_emb = pos_emb
        self._type_emb = type_emb
        self._emb_ln_w = emb_ln_w
        self._emb_ln_b = emb_ln_b
        self._layers = layers
        self._num_heads = num_heads
        self._eps = eps
        self.dim: int = word_emb.shape[1]

    @classmethod
    def load(cls, folder: Path) -> MiniLM:
        """Load a sentence-transformers BERT model folder with mean pooling."""
        folder = Path(folder)
        config = _read_json(folder / "config.json")
        st_config = _read_json(folder / "sentence_bert_config.json")
        pooling = _read_json(folder / "1_Pooling" / "config.json")

        if config.get("model_type") != "bert":
            raise ValueError(f"model_type is {config.get('model_type')!r}, only 'bert' is supported")
        if config["hidden_act"] != "gelu":
            raise ValueError(f"hidden_act is {config['hidden_act']!r}, only exact 'gelu' is supported")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported")
        modes = {k: v for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
        if list(modes) != ["pooling_mode_mean_tokens"]:
            raise ValueError(f"only mean pooling is supported, config has {sorted(modes)}")

        hidden = config["hidden_size"]
        num_heads = config["num_attention_heads"]
        if hidden % num_heads:
            raise ValueError(f"hidden_size {hidden} is not a multiple of num_attention_heads {num_heads}")
        # sentence-transformers caps max_seq_length at the position table size.
        max_len = min(st_config["max_seq_length"], config["max_position_embeddings"])

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # tokenizer.json ships with truncation at 128 and fixed padding to 128;
        # sentence-transformers overrides both per call with max_seq_length and
        # pad-to-longest, so do the same once here (see module docstring on
        # why this must not happen after load).
        tokenizer.enable_truncation(max_length=max_len)
        pad_id = config.get("pad_token_id", 0)
        tokenizer.enable_padding(pad_id=pad_id, pad_token=tokenizer.id_to_token(pad_id))

        w = load_file(str(folder / "model.safetensors"))

        def take(name: str) -> np.ndarray:
            """Remove a tensor from w and return it as contiguous float32."""
            # Popping lets the (out, in) originals of transposed copies be freed.
            return np.ascontiguousarray(w.pop(name), dtype=np.float32)

        def transposed(name: str) -> np.ndarray:
            """Pop a torch Linear weight (out, in) as a contiguous (in, out) matrix for x @ W."""
            return np.ascontiguousarray(take(name).T)

        layers = []
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate(
                [transposed(p + f"attention.self.{n}.weight") for n in ("query", "key", "value")], axis=1
            )
            qkv_b = np.concatenate([take(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
            layers.append(
                _Layer(
                    qkv_w=qkv_w,
                    qkv_b=qkv_b,
                    attn_out_w=transposed(p + "attention.output.dense.weight"),
                    attn_out_b=take(p + "attention.output.dense.bias"),
                    attn_ln_w=take(p + "attention.output.LayerNorm.weight"),
                    attn_ln_b=take(p + "attention.output.LayerNorm.bias"),
                    inter_w=transposed(p + "intermediate.dense.weight"),
                    inter_b=take(p + "intermediate.dense.bias"),
                    out_w=transposed(p + "output.dense.weight"),
                    out_b=take(p + "output.dense.bias"),
                    out_ln_w=take(p + "output.LayerNorm.weight"),
                    out_ln_b=take(p + "output.LayerNorm.bias"),
                )
            )

        return cls(
            tokenizer=tokenizer,
            word_emb=take("embeddings.word_embeddings.weight"),
            pos_emb=take("embeddings.position_embeddings.weight"),
            type_emb=take("embeddings.token_type_embeddings.weight"),
            emb_ln_w=take("embeddings.LayerNorm.weight"),
            emb_ln_b=take("embeddings.LayerNorm.bias"),
            layers=layers,
            num_heads=num_heads,
            eps=float(config["layer_norm_eps"]),
        )  # the rest of w (pooler, position_ids) is unused and freed here

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed texts as L2-normalised float32 vectors of shape (len(texts), dim)."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        lengths = mask.sum(axis=1)
        # Padding is on the right, so cutting a chunk's columns at its longest
        # text drops only padding.
        order = np.argsort(-lengths, kind="stable")
        start = 0
        while start < len(texts):
            width = int(lengths[order[start]])  # the longest text left
            rows = order[start : start + max(1, _CHUNK_TOKENS // width)]
            out[rows] = self._embed(ids[rows, :width], mask[rows, :width])
            start += len(rows)
        return out

    def _embed(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Run BERT on right-padded token ids and return normalised mean-pooled vectors."""
        batch, seq = ids.shape
        hidden = self.dim
        heads = self._num_heads
        head_dim = hidden // heads
        eps = self._eps

        # token_type_ids are all zero for single sentences.
        h = self._word_emb[ids] + self._pos_emb[:seq] + self._type_emb[0]
        h = _layer_norm(h, self._emb_ln_w, self._emb_ln_b, eps).reshape(batch * seq, hidden)

        # Additive mask over keys: padded keys get the most negative float32, as
        # in transformers, so their softmax weight underflows to exactly 0.
        # Every row has [CLS] and [SEP], so no row is fully masked.
        key_bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
        scale = np.float32(1.0 / math.sqrt(head_dim))

        for layer in self._layers:
            qkv = h @ layer.qkv_w + layer.qkv_b
            # (batch*seq, 3*hidden) -> 3 x (batch, heads, seq, head_dim)
            q, k, v = qkv.reshape(batch, seq, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= scale
            scores += key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * seq, hidden)

            # Post-LN BERT: LayerNorm(sublayer(x) + x) after each sublayer.
            attn = context @ layer.attn_out_w + layer.attn_out_b
            h = _layer_norm(attn + h, layer.attn_ln_w, layer.attn_ln_b, eps)
            inter = _gelu(h @ layer.inter_w + layer.inter_b)
            ffn = inter @ layer.out_w + layer.out_b
            h = _layer_norm(ffn + h, layer.out_ln_w, layer.out_ln_b, eps)

        # Mean over real tokens only, then L2-normalise; the clamps mirror
        # sentence-transformers' Pooling (1e-9) and torch's F.normalize (1e-12).
        h = h.reshape(batch, seq, hidden)
        m = mask[:, :, None].astype(np.float32)
        pooled = (h * m).sum(axis=1) / np.maximum(m.sum(axis=1), np.float32(1e-9))
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, np.float32(1e-12))
