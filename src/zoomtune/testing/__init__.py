"""Conformance suites any storage or sampler (ours or a third party's) can run under pytest."""
