"""smartbuild: discover, inventory and safely configure building devices."""

__version__ = "0.1.0"
