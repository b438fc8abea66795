"""The views: tables, JSON, diagrams, the walkthrough, plots; they read a trace, compute nothing."""
