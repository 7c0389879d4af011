"""Configuration and logging shared by the API and workers."""
