"""The products domain: router -> service -> repository."""
