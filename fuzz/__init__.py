"""The fuzz suite's generators and runner, shared by tests/test_fuzz.py (bounded, in CI) and
fuzz/run.py (the long run); see fuzz/README.md."""
