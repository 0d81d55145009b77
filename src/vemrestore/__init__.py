"""vemrestore: Fast-Scan, AI-Restore for volume electron microscopy."""

__version__ = "0.1.0"
