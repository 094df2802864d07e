"""Retrieval evaluation: does the right course document come back for a query?

The sets are ``queries-*.yaml`` beside this file (lang, query, expected document ids).
Run ``python -m evals.retrieval`` from the repository root.
"""
