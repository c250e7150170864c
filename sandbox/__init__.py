"""An OpenAI-compatible image API sandbox with deterministic images, limits and fault injection.

Run it with `python -m sandbox`; see `sandbox/README.md` for endpoints and config keys.
"""
