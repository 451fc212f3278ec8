"""Domain: what the platform does, independent of AWS and of local mode."""
