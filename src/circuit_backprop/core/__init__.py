"""The core: the op registry, the gate graph, the engines (forward and backward passes), the
trace, and composite ops."""
