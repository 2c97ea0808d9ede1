"""Benchmarks against the local lab: each prints its figures and keeps a JSON record and a
plot in benchmarks/results/ (see docs/performance.md). Run them with `benchmarks/run`."""
