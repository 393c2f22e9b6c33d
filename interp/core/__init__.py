"""Plumbing every layer shares: the one error type, atomic file writes, stage timings, versions, and the
self-check that holds each fast path to its plain computation."""
