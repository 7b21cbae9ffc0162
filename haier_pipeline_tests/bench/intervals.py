"""Arithmetic on time intervals (start, end), to split a sync's wall time without counting anything twice."""

from __future__ import annotations

from collections.abc import Iterable

Interval = tuple[float, float]


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """The same instants as disjoint, sorted intervals."""
    merged: list[Interval] = []
    for start, end in sorted((start, end) for start, end in intervals if end > start):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def length(intervals: Iterable[Interval]) -> float:
    return sum(end - start for start, end in union(intervals))


def clip(intervals: Iterable[Interval], start: float, end: float) -> list[Interval]:
    """The parts of the intervals inside [start, end]."""
    return [(max(a, start), min(b, end)) for a, b in union(intervals) if min(b, end) > max(a, start)]


def subtract(intervals: Iterable[Interval], removed: Iterable[Interval]) -> list[Interval]:
    """The instants of `intervals` not in `removed`."""
    remaining = union(intervals)
    for cut_start, cut_end in union(removed):
        pieces: list[Interval] = []
        for start, end in remaining:
            if cut_end <= start or cut_start >= end:
                pieces.append((start, end))
                continue
            if start < cut_start:
                pieces.append((start, cut_start))
            if cut_end < end:
                pieces.append((cut_end, end))
        remaining = pieces
    return remaining
