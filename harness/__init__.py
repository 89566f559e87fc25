"""The controller: provisions testbeds, runs benchmarks, collects and reports results."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vdlt-harness")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
