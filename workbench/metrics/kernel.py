"""The compiled counting kernel (``_kernel.pyx``), with a clear error where it was never built."""

try:
    from workbench.metrics._kernel import COLUMNS, CountTable, Phrases, count_row, edit_summary
except ImportError as error:  # a source tree used without installing it
    raise ImportError(
        "workbench.metrics._kernel is not built: install the package (`make install`, or "
        "`pip install -e .`), which compiles workbench/metrics/_kernel.pyx with Cython"
    ) from error

__all__ = ["COLUMNS", "CountTable", "Phrases", "count_row", "edit_summary"]
