"""Frozen dataclass configs per stage, loaded from a params.yaml section plus overrides.

Imports nothing else of the package.
"""

from workbench.config.loading import ConfigError, config_to_dict, load_config, parse_overrides

__all__ = ["ConfigError", "config_to_dict", "load_config", "parse_overrides"]
