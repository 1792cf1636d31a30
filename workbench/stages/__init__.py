"""One thin declaration per DVC stage: ``STAGE = workbench.runner.Stage(...)``.

A stage module declares its arguments, calls one library function and writes its outputs; the
runner (``workbench.runner``) does params, threads, tracking, resume, progress and errors. Only
``workbench.cli`` (and tests that drive it) import this package.
"""
