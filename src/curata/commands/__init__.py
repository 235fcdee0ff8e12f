"""Command-line commands kept out of ``cli.py``: each module holds one typer-compatible function."""
