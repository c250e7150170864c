"""The kernel every app stands on: settings helpers, Redis, API errors, request ids, and the shared limiter and breaker.

It imports no app of this project.
"""
