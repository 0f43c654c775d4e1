"""Run a computation on one torch thread, so its bits do not depend on the machine.

torch's QR (inside `torch.nn.init.orthogonal_`) splits its float32 work by the intra-op
thread count and rounds differently on 1 and 2 threads (max difference ~5e-7 on
SimpleCNN's shapes). The page runs on one thread; a script or notebook runs on torch's
default, the core count. pinit promises the same weights everywhere, so the few
computations whose rounding depends on the count (the orthogonal fill, LSUV) run
under `single_thread()`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["single_thread"]


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run the block with torch.get_num_threads() == 1; restore the caller's count after it.

    Why it is safe: torch.set_num_threads (OpenMP backend) sets the calling
    thread's count and the default that threads started later inherit; threads already
    running keep their own. So the block can only make torch calls elsewhere slower for a
    moment, never give them other numbers, and the finally puts the count back even if
    the block raises. When the count is already 1 (the page: app.py sets it) nothing is
    changed at all.
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
