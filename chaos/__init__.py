"""Multi-host chaos runs: a cluster in network namespaces, nemeses, and a checker that trusts only records."""
