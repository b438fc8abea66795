"""circuit: a command-line circuit evaluator for backpropagation."""

__version__ = "0.1.0"
