"""The checks: PyTorch and central differences against the engine, one comparison rule."""
