"""One thin entry point per DVC stage: parse argv and params, call the library, write outputs.

This is the only layer that reads params.yaml and paths, builds loggers and writes files.
Each module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args)``.
"""
