"""Render the Backstage template locally, exactly as Backstage renders it."""
