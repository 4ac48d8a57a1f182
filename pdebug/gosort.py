"""Go's ``sort.Slice`` ported to Python, so rows come out in istioctl's exact order.

``sort.Slice`` (Go >= 1.19) is pattern-defeating quicksort: a plain insertion sort for
up to 12 items, otherwise an unstable quicksort with median-of-three / ninther pivots,
a pattern breaker seeded by the range length, a partial insertion sort for nearly
sorted input, a three-way split for runs of equal items, and a heapsort fallback. Items
that compare equal, or a comparator that is not a strict weak order, end up in an order
that only the same sequence of comparisons and swaps reproduces; that is what this
module replays (``tests/vectors/gosort`` holds permutations produced by Go itself).

``less(x, y)`` receives items, not indexes: Go's ``less(i, j)`` always reads the slice
as it is at that moment, so comparing ``data[i]`` with ``data[j]`` is the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Protocol, TypeVar

__all__ = ["go_sort_by_key", "go_sort_slice"]

T = TypeVar("T")

_MAX_INSERTION = 12  # ranges this short are insertion-sorted
_NINTHER_FROM = 50  # pivot by Tukey's ninther from this length on, else median of three
_ALL_DESCENDING = 12  # every one of the 12 pivot comparisons saw a descent
_SHIFT_STEPS = 5  # partial insertion sort: out-of-order pairs it will repair
_SHIFT_FROM = 50  # partial insertion sort repairs nothing on shorter ranges
_MASK64 = (1 << 64) - 1

_UNKNOWN, _INCREASING, _DECREASING = 0, 1, 2

Less = Callable[[Any, Any], bool]


def go_sort_slice(items: list[T], less: Callable[[T, T], bool]) -> None:
    """Sort ``items`` in place exactly as Go's ``sort.Slice(items, less)`` would."""
    n = len(items)
    _pdqsort(items, less, 0, n, n.bit_length())  # bit_length() is Go's bits.Len


class _Key(Hashable, Protocol):
    """A sort key: hashable and ordered by ``<`` / ``>`` (tuples of str and int)."""

    def __lt__(self, other: Any, /) -> bool: ...
    def __gt__(self, other: Any, /) -> bool: ...


K = TypeVar("K", bound=_Key)


def go_sort_by_key(items: list[T], key: Callable[[T], K], *, descending: bool = False) -> None:
    """``sort.Slice`` with ``less(a, b) = key(a) < key(b)`` (``>`` when ``descending``).

    Python's own sort gives the same answer whenever the answer cannot depend on the
    algorithm: up to 12 items (Go's insertion sort is stable, and so is ``list.sort``,
    also with ``reverse``), or when no two keys are equal (a total order has one sorted
    permutation). Only ties among more than 12 items need the port, so big views with
    unique keys keep Python's speed.
    """
    n = len(items)
    keys = [key(x) for x in items]
    if n <= _MAX_INSERTION or len(set(keys)) == n:
        order = sorted(range(n), key=keys.__getitem__, reverse=descending)
    else:
        pairs = list(zip(keys, range(n), strict=True))
        go_sort_slice(pairs, _greater_first if descending else _less_first)
        order = [i for _, i in pairs]
    items[:] = [items[i] for i in order]


def _less_first(p: tuple[Any, int], q: tuple[Any, int]) -> bool:
    return bool(p[0] < q[0])


def _greater_first(p: tuple[Any, int], q: tuple[Any, int]) -> bool:
    return bool(p[0] > q[0])


def _pdqsort(data: list[Any], less: Less, a: int, b: int, limit: int) -> None:
    """Sort ``data[a:b]``; ``limit`` bad pivots are allowed before falling back to heapsort."""
    balanced = True  # the previous split was not lopsided
    partitioned = True  # the previous partition moved nothing
    while True:
        length = b - a
        if length <= _MAX_INSERTION:
            _insertion_sort(data, less, a, b)
            return
        if limit == 0:
            _heap_sort(data, less, a, b)
            return
        if not balanced:
            _break_patterns(data, a, b)
            limit -= 1

        pivot, hint = _choose_pivot(data, less, a, b)
        if hint == _DECREASING:
            data[a:b] = data[a:b][::-1]
            pivot = (b - 1) - (pivot - a)  # the pivot item moved with the reversal
            hint = _INCREASING

        if balanced and partitioned and hint == _INCREASING:
            if _partial_insertion_sort(data, less, a, b):
                return

        # The item just left of the range is a previous pivot, so nothing here is
        # smaller than it. If it is not smaller than this pivot either, many items
        # equal the pivot: split off that run and carry on with what is greater.
        if a > 0 and not less(data[a - 1], data[pivot]):
            a = _partition_equal(data, less, a, b, pivot)
            continue

        mid, partitioned = _partition(data, less, a, b, pivot)
        left, right = mid - a, b - mid
        if left < right:
            balanced = left >= length // 8
            _pdqsort(data, less, a, mid, limit)
            a = mid + 1
        else:
            balanced = right >= length // 8
            _pdqsort(data, less, mid + 1, b, limit)
            b = mid


def _insertion_sort(data: list[Any], less: Less, a: int, b: int) -> None:
    """Stable insertion sort of ``data[a:b]``: an item moves left while it is less."""
    for i in range(a + 1, b):
        item = data[i]
        j = i
        while j > a and less(item, data[j - 1]):
            data[j] = data[j - 1]
            j -= 1
        data[j] = item


def _heap_sort(data: list[Any], less: Less, a: int, b: int) -> None:
    """Heapsort of ``data[a:b]`` (max-heap rooted at ``a``)."""
    size = b - a
    for root in range((size - 1) // 2, -1, -1):
        _sift_down(data, less, root, size, a)
    for end in range(size - 1, -1, -1):
        data[a], data[a + end] = data[a + end], data[a]
        _sift_down(data, less, 0, end, a)


def _sift_down(data: list[Any], less: Less, root: int, size: int, base: int) -> None:
    """Restore the heap below ``root``; positions are relative to ``base``."""
    while True:
        child = 2 * root + 1
        if child >= size:
            return
        if child + 1 < size and less(data[base + child], data[base + child + 1]):
            child += 1
        if not less(data[base + root], data[base + child]):
            return
        data[base + root], data[base + child] = data[base + child], data[base + root]
        root = child


def _partition(data: list[Any], less: Less, a: int, b: int, pivot: int) -> tuple[int, bool]:
    """Hoare partition around ``data[pivot]``: smaller items left, the rest right.

    Returns the pivot's final index and whether no item had to move.
    """
    data[a], data[pivot] = data[pivot], data[a]
    p = data[a]  # stays at ``a`` until the final swap
    i, j = a + 1, b - 1
    moved = False
    while True:
        while i <= j and less(data[i], p):
            i += 1
        while i <= j and not less(data[j], p):
            j -= 1
        if i > j:
            break
        data[i], data[j] = data[j], data[i]
        moved = True
        i += 1
        j -= 1
    data[a], data[j] = data[j], data[a]
    return j, not moved


def _partition_equal(data: list[Any], less: Less, a: int, b: int, pivot: int) -> int:
    """Move the items equal to the pivot to the front (none is smaller); return the split."""
    data[a], data[pivot] = data[pivot], data[a]
    p = data[a]
    i, j = a + 1, b - 1
    while True:
        while i <= j and not less(p, data[i]):
            i += 1
        while i <= j and less(p, data[j]):
            j -= 1
        if i > j:
            return i
        data[i], data[j] = data[j], data[i]
        i += 1
        j -= 1


def _partial_insertion_sort(data: list[Any], less: Less, a: int, b: int) -> bool:
    """Repair a few out-of-order neighbours; True if ``data[a:b]`` ends up sorted."""
    i = a + 1
    for _ in range(_SHIFT_STEPS):
        while i < b and not less(data[i], data[i - 1]):
            i += 1
        if i == b:
            return True
        if b - a < _SHIFT_FROM:
            return False
        data[i], data[i - 1] = data[i - 1], data[i]
        if i - a >= 2:
            # Go bounds this walk by index 1 of the whole slice, not by ``a``, so the
            # smaller item may travel left past the start of the range; kept as is.
            j = i - 1
            while j >= 1 and less(data[j], data[j - 1]):
                data[j], data[j - 1] = data[j - 1], data[j]
                j -= 1
        if b - i >= 2:
            j = i + 1
            while j < b and less(data[j], data[j - 1]):
                data[j], data[j - 1] = data[j - 1], data[j]
                j += 1
    return False


def _break_patterns(data: list[Any], a: int, b: int) -> None:
    """Swap three middle items with pseudo-random ones (xorshift seeded by the length)."""
    length = b - a
    if length < 8:
        return
    state = length
    mask = (1 << length.bit_length()) - 1  # next power of two above length, minus one
    middle = a + (length // 4) * 2
    for idx in range(middle - 1, middle + 2):
        state ^= (state << 13) & _MASK64
        state ^= state >> 17
        state ^= (state << 5) & _MASK64
        other = state & mask
        if other >= length:
            other -= length
        data[idx], data[a + other] = data[a + other], data[idx]


def _choose_pivot(data: list[Any], less: Less, a: int, b: int) -> tuple[int, int]:
    """Pick a pivot index in ``data[a:b]`` and guess whether the range is sorted.

    Median of the items at 1/4, 2/4 and 3/4; from 50 items on each of those is first
    replaced by the median of itself and its two neighbours (Tukey's ninther). The hint
    says whether every comparison found ascending (or every one descending) items.
    """
    length = b - a
    quarter = length // 4
    i, j, k = a + quarter, a + 2 * quarter, a + 3 * quarter
    descents = 0
    if length >= 8:
        if length >= _NINTHER_FROM:
            i, d1 = _median(data, less, i - 1, i, i + 1)
            j, d2 = _median(data, less, j - 1, j, j + 1)
            k, d3 = _median(data, less, k - 1, k, k + 1)
            descents = d1 + d2 + d3
        j, d = _median(data, less, i, j, k)
        descents += d
    if descents == 0:
        return j, _INCREASING
    if descents == _ALL_DESCENDING:
        return j, _DECREASING
    return j, _UNKNOWN


def _median(data: list[Any], less: Less, x: int, y: int, z: int) -> tuple[int, int]:
    """Index of the median of three items, and how many of the 3 comparisons were descents."""
    descents = 0
    if less(data[y], data[x]):
        x, y = y, x
        descents += 1
    if less(data[z], data[y]):
        y, z = z, y
        descents += 1
    if less(data[y], data[x]):
        x, y = y, x
        descents += 1
    return y, descents
