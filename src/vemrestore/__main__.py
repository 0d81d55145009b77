"""``python -m vemrestore`` runs the command line."""

from vemrestore.cli import main

main()
