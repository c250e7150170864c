"""The load and chaos benchmark: InteriorAI against a naive design and a LiteLLM peer (docs/BENCHMARKS.md)."""
