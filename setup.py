"""The compiled part of the package; everything else is declared in pyproject.toml.

``workbench.metrics._kernel`` (Cython) is the scorer's per-utterance counting: every
``pip install`` of the project compiles it (gcc and the Python headers are needed).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("workbench.metrics._kernel", ["workbench/metrics/_kernel.pyx"])])
