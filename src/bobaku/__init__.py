"""BobaKu platform.

The code lives in the repository's top-level folders; this directory only maps them
into one import namespace (see the symlinks beside this file)."""
