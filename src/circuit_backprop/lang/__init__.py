"""The language: the grammar, its parser (source text -> gate graph), defs and --expand."""
