"""The image qualities a request may ask for: tiers allow a subset, prices are per quality.

Plain data with no Django import: the benchmark's LiteLLM peer builds prompts from generation/styles.py,
which shows these, in a virtualenv of its own.
"""

# `auto` lets the model choose; it is reserved at the model's highest price and captured at the one it used.
QUALITIES: tuple[str, ...] = ("low", "medium", "high", "auto")
