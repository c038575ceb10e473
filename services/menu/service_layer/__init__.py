"""The menu's use cases: handlers named after the command they carry out, and the
(cached) views that answer reads."""
