"""Declarative feature definitions and pure DataFrame transforms (issue: batch features)."""
