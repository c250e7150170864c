"""The system's processes started by command line, for the tests and the benchmark: it imports none of the product."""
