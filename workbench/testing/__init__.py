"""Test builders in one place (as lhotse's testing/dummies.py): tiny manifests and audio."""
