"""Benchmarks that print ratios measured side by side in one run (`make bench`). Not tests: nothing is asserted."""
