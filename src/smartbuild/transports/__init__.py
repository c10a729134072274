"""Transport families: each subpackage is a builtin plugin that registers its own transports."""
