"""The naive baseline: the product's settings plus one synchronous view (bench/naive.py), outside the product's URLs."""

from interiorai.settings import *  # noqa: F403

ROOT_URLCONF = "bench.naive_urls"
